package spacemusic_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

// A show's evening: open a stage, let a performer and a listener in, mute the
// performer when the mic howls.
func Example() {
	ctx := context.Background()
	sm, err := spacemusic.New(spacemusic.ConfigFromEnv())
	if err != nil {
		log.Fatal(err) // e.g. "spacemusic.Config: invalid argument: LIVEKIT_URL is not set; ..."
	}
	stage, err := sm.Rooms.Create(ctx, "friday-jam", rooms.CreateOptions{DepartureTimeout: time.Minute})
	if err != nil {
		log.Fatal(err)
	}
	performer, _ := sm.Tokens.Performer(stage.Name, "ada", tokens.WithName("Ada"))
	listener, _ := sm.Tokens.Listener(stage.Name, "bob", tokens.WithTTL(2*time.Hour))
	fmt.Println(sm.Config().WSURL(), performer.Identity, listener.Identity)

	if _, err := sm.Rooms.Mute(ctx, stage.Name, "ada"); errors.Is(err, spacemusic.ErrNotFound) {
		fmt.Println("ada is not on stage")
	}
}

func ExampleConfigFromEnv() {
	getenv := func(k string) string {
		return map[string]string{"LIVEKIT_URL": "ws://127.0.0.1:7880", "LIVEKIT_API_KEY": "devkey"}[k]
	}
	err := spacemusic.ConfigFromGetenv(getenv).Validate()
	fmt.Println(err)
	// Output: spacemusic.Config: invalid argument: LIVEKIT_API_SECRET is not set
}
