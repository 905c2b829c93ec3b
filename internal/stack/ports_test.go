package stack

import "testing"

// The kernel hands a just-closed probe port out again soon enough that two
// components of one stack once got the same one. Five hundred ports in a row
// from one process are all different (without the record of handed-out ports
// a repeat among 500 is all but certain: ~28,000 ephemeral ports).
func TestAPortIsHandedOutOnce(t *testing.T) {
	seen := map[int]bool{}
	for range 500 {
		p, err := FreePort()
		if err != nil {
			t.Fatal(err)
		}
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
	}
	u, err := FreeUDPPort()
	if err != nil || u == 0 {
		t.Fatalf("udp: %d, %v", u, err)
	}
}
