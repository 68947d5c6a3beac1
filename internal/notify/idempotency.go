package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"sort"
	"strconv"
)

// IdempotencyHeader carries a digest's idempotency key on every HTTP
// delivery (webhook and Slack): the same on every attempt, and whenever the
// same digest is delivered again, so that a receiver can drop a repeat.
const IdempotencyHeader = "Idempotency-Key"

// IdempotencyKey identifies what the digest says: its run, its recipient
// and its items (by ItemKey and action, in any order). It is the same for
// every attempt, and whenever the same digest is delivered again, in this
// run or a later one (when it was made does not count); a digest with
// another run, recipient or item has another key. It is 32 lowercase hex
// characters (the start of a SHA-256); it is made of no secret.
func (d Digest) IdempotencyKey() string {
	h := sha256.New()
	field := func(h hash.Hash, s string) { fmt.Fprintf(h, "%d:%s", len(s), s) }
	field(h, "keywarden.digest/1")
	field(h, d.RunID)
	field(h, d.To.Channel)
	field(h, d.To.Contact)
	field(h, strconv.FormatBool(d.To.Team))
	items := make([]string, len(d.Items))
	for i, it := range d.Items {
		items[i] = ItemKey(d.RunID, it) + "\x00" + it.Action
	}
	sort.Strings(items)
	field(h, strconv.Itoa(len(items)))
	for _, it := range items {
		field(h, it)
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}
