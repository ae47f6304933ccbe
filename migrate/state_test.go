package migrate

// journalPath is the default state directory's journal, as the tests name
// it.
var journalPath = stateIn("").journal()
