package remediate

// ActionID is actionID, for tests that forge plan files.
var ActionID = actionID
