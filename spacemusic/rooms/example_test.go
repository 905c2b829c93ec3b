package rooms_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/rooms"
)

func ExampleService_Create() {
	svc, err := rooms.New(rooms.Config{URL: os.Getenv("LIVEKIT_URL"), APIKey: os.Getenv("LIVEKIT_API_KEY"), APISecret: os.Getenv("LIVEKIT_API_SECRET")})
	if err != nil {
		log.Fatal(err)
	}
	stage, err := svc.Create(context.Background(), "friday-jam", rooms.CreateOptions{
		DepartureTimeout: time.Minute,            // close a minute after the last one left
		MinPlayoutDelay:  100 * time.Millisecond, // keep performers in step
		SyncStreams:      true,
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(stage.Name)
}

func ExampleService_Mute() {
	svc, _ := rooms.New(rooms.Config{URL: "http://127.0.0.1:7880", APIKey: "devkey", APISecret: os.Getenv("LIVEKIT_API_SECRET")})
	// No track named: every audio track of the performer.
	_, err := svc.Mute(context.Background(), "friday-jam", "ada")
	switch {
	case errors.Is(err, spacemusic.ErrNotFound):
		fmt.Println("ada is not on stage")
	case errors.Is(err, spacemusic.ErrUnavailable):
		fmt.Println("LiveKit is down")
	}
}

func ExampleService_Promote() {
	svc, _ := rooms.New(rooms.Config{URL: "http://127.0.0.1:7880", APIKey: "devkey", APISecret: os.Getenv("LIVEKIT_API_SECRET")})
	// bob may publish from now on, without reconnecting.
	bob, err := svc.Promote(context.Background(), "friday-jam", "bob")
	if err == nil {
		fmt.Println(bob.OnStage())
	}
}
