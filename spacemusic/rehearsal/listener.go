package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
)

// JoinTimeout bounds one listener's join, from dialling to its first packet,
// and the synthetic performer's.
const JoinTimeout = 15 * time.Second

// listener is one synthetic member of the audience.
type listener struct {
	counter
	identity string
	dialed   int64 // ns since the epoch when it dialled LiveKit
	sub      *subscriber
	epoch    time.Time
}

// joinTime is from dialling to the first packet; false before one.
func (l *listener) joinTime() (time.Duration, bool) {
	f := l.first.Load()
	if f == 0 {
		return 0, false
	}
	return time.Duration(f - l.dialed), true
}

// join connects l with jwt through k, subscribing to the first audio track it
// is offered.
func (l *listener) join(ctx context.Context, k *kit, url, jwt string) error {
	ctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	l.dialed = time.Since(l.epoch).Nanoseconds()
	l.clock = 48000 // Opus's RTP clock, whatever its sample rate
	sub, err := dialSubscriber(ctx, k, url, jwt, func(b []byte) { l.packet(b, time.Since(l.epoch).Nanoseconds()) })
	if err != nil {
		return err
	}
	l.sub = sub
	return nil
}

// connect joins with jwt within JoinTimeout (or ctx): the SDK's connect takes
// no context. A connect that completes after we gave up is dropped.
func connect(ctx context.Context, url, jwt string, cb *lksdk.RoomCallback) (*lksdk.Room, error) {
	ctx, cancel := context.WithTimeout(ctx, JoinTimeout)
	defer cancel()
	ch := make(chan joined, 1)
	go func() {
		rm, err := lksdk.ConnectToRoomWithToken(url, jwt, cb, lksdk.WithAutoSubscribe(false))
		ch <- joined{rm, err}
	}()
	select {
	case j := <-ch:
		if j.err != nil { // an SDK error could quote the URL it dialled, token included
			return nil, errors.New(strings.ReplaceAll(j.err.Error(), jwt, "[token]"))
		}
		return j.room, nil
	case <-ctx.Done():
		go drop(ch)
		return nil, fmt.Errorf("joining: %w", ctx.Err())
	}
}

type joined struct {
	room *lksdk.Room
	err  error
}

// drop disconnects a connection that completed after we gave up on it.
func drop(ch <-chan joined) {
	if j := <-ch; j.room != nil {
		j.room.Disconnect()
	}
}

// leave disconnects l.
func (l *listener) leave() {
	if l.sub != nil {
		l.sub.close()
	}
}
