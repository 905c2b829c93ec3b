package events

// JudgedRooms is how many rooms have been judged for their warnings so far.
func JudgedRooms() int64 { return judgedRooms.Load() }

// Unmemoized is s judging its warnings on every read, as before they were
// stored per snapshot: the benchmark's baseline.
func Unmemoized(s *Snapshot) *Snapshot {
	c := *s
	c.warn = nil
	return &c
}
