package migrate

// The default state directory's files, as the tests name them.
var (
	journalPath = stateIn("").journal()
	recordPath  = stateIn("").record()
	lockPath    = stateIn("").lock()
)
