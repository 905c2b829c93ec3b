package capture

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/internal/testenv"
	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// A track that arrives while a part is being written waits for it. Ada plays;
// Bob starts while she does (as a performer who drops and comes straight back
// is subscribed anew before LiveKit ends the old track, and announced once).
// When Ada leaves her part ends, and Bob's audio is the next part: nothing
// played after her goes unrecorded.
func TestTheNextTrackIsRecordedWhenTheFirstEnds(t *testing.T) {
	testenv.RequireNetNS(t) // real media
	env := testenv.LiveKit(t)
	ctx := testenv.Within(t, 2*time.Minute)
	r, iss, size := spoolingRecorder(t, env)
	growing := func(n int) func() bool {
		return func() bool {
			a := r.Active("jam")
			return len(a) == n && a[n-1].Status == egress.Active && size(a[n-1]) > 8<<10
		}
	}

	ada, err := iss.Performer("jam", "ada")
	require.NoError(t, err)
	adaRoom := env.Join(t, ada.JWT, nil)
	_, err = testenv.PublishTone(t, adaRoom, testenv.Tone(t, 440, 2*time.Minute))
	require.NoError(t, err)
	require.NoError(t, r.Arm(ctx, "jam", "")) // the first audio track is the show
	require.Eventually(t, growing(1), time.Minute, 100*time.Millisecond, "the recorder never recorded ada")

	bob, err := iss.Performer("jam", "bob")
	require.NoError(t, err)
	_, err = testenv.PublishTone(t, env.Join(t, bob.JWT, nil), testenv.Tone(t, 660, 2*time.Minute))
	require.NoError(t, err)
	time.Sleep(2 * time.Second) // bob's track is subscribed while ada's part is written
	require.Len(t, r.Active("jam"), 1, "one part at a time")

	adaRoom.Disconnect()
	require.Eventually(t, growing(2), time.Minute, 100*time.Millisecond, "bob's audio never became the next part: %+v", r.Active("jam"))
	a := r.Active("jam")
	require.NotEqual(t, a[0].Key, a[1].Key, "nothing overwritten")
	require.Positive(t, size(a[0]), "ada's part is kept")
}
