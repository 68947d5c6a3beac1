-- The process holding the lock, so that a lock left by a process that died
-- on this host is taken over at once rather than after staleAfter.
ALTER TABLE lock ADD COLUMN pid INTEGER NOT NULL DEFAULT 0;
ALTER TABLE lock ADD COLUMN host TEXT NOT NULL DEFAULT '';
