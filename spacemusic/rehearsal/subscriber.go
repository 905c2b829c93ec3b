package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/livekit/protocol/livekit"
	protosignalling "github.com/livekit/protocol/signalling"
	"github.com/pion/webrtc/v4"
	"google.golang.org/protobuf/proto"
)

// A listener is not a server-sdk-go room: a room builds its own pion API
// (media engine, interceptors) and two peer connections, the subscriber's
// with NACKs, receiver reports, transport-wide feedback and RTT probes that
// the SDK installs whatever WithInterceptors says (server-sdk-go v2.13.0
// passes the option to the publisher only). A listener needs LiveKit's
// signalling for one thing, to be offered the show's track and answer, and
// a media path that counts its packets (link.go): that is all a subscriber
// is here.

// protocolVersion is LiveKit's signalling protocol this client speaks: the
// subscriber connection is the primary one, offered by the SFU.
const protocolVersion = 16

// subscriber is one listener's connection: its signalling WebSocket and its
// peer connection, which the SFU offers once the listener has joined.
type subscriber struct {
	ws      *websocket.Conn
	wmu     sync.Mutex // one writer at a time on ws
	link    *link
	mid     string // the first bundled section's, which local candidates name
	answers int
	wanted  bool // asked for the show's track; the reader's own
	done    chan struct{}
}

// dialSubscriber joins url's room with jwt, hidden and subscribe-only as the
// token says, and subscribes to the first audio track the room has (or
// publishes later); packet is given each of its RTP packets.
func dialSubscriber(ctx context.Context, k *kit, url, jwt string, packet func([]byte)) (*subscriber, error) {
	u := fmt.Sprintf("%s/rtc?protocol=%d&auto_subscribe=0&sdk=go&version=streamkit-rehearsal", strings.TrimSuffix(url, "/"), protocolVersion)
	ws, resp, err := websocket.DefaultDialer.DialContext(ctx, u, http.Header{"Authorization": {"Bearer " + jwt}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("signalling: LiveKit answered %s", resp.Status)
		}
		return nil, fmt.Errorf("signalling: %w", err)
	}
	s := &subscriber{ws: ws, done: make(chan struct{})}
	if dl, ok := ctx.Deadline(); ok {
		_ = ws.SetReadDeadline(dl)
	}
	join, err := s.receive()
	if err == nil && join.GetJoin() == nil {
		err = fmt.Errorf("signalling: LiveKit answered %T before joining", join.Message)
	}
	if err != nil {
		ws.Close()
		return nil, err
	}
	_ = ws.SetReadDeadline(time.Time{})
	j := join.GetJoin()
	s.link, err = newLink(k, packet)
	if err != nil {
		ws.Close()
		return nil, err
	}
	s.want(j.OtherParticipants)
	go s.readLoop()
	go s.ping(time.Duration(j.PingInterval) * time.Second)
	return s, nil
}

func (s *subscriber) receive() (*livekit.SignalResponse, error) {
	kind, b, err := s.ws.ReadMessage()
	if err != nil {
		return nil, fmt.Errorf("signalling: %w", err)
	}
	if kind != websocket.BinaryMessage {
		return nil, errors.New("signalling: LiveKit answered a text message")
	}
	res := &livekit.SignalResponse{}
	return res, proto.Unmarshal(b, res)
}

func (s *subscriber) send(req *livekit.SignalRequest) error {
	b, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	_ = s.ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	return s.ws.WriteMessage(websocket.BinaryMessage, b)
}

// readLoop answers the SFU until the connection ends: its offers, its ICE
// candidates, and the participants it announces (for the show's track).
func (s *subscriber) readLoop() {
	defer close(s.done)
	for {
		res, err := s.receive()
		if err != nil {
			return
		}
		switch m := res.Message.(type) {
		case *livekit.SignalResponse_Offer:
			s.answer(m.Offer)
		case *livekit.SignalResponse_Trickle:
			if m.Trickle.Target == livekit.SignalTarget_SUBSCRIBER {
				if init, err := protosignalling.FromProtoTrickle(m.Trickle); err == nil {
					s.link.addCandidate(init.Candidate) // one we cannot use is one path fewer
				}
			}
		case *livekit.SignalResponse_Update:
			s.want(m.Update.Participants)
		case *livekit.SignalResponse_Leave:
			return
		}
	}
}

// answer accepts the SFU's offer and, after the first, starts connecting; a
// failure leaves the listener deaf, which the rehearsal reports.
func (s *subscriber) answer(sd *livekit.SessionDescription) {
	o, err := parseOffer(sd.Sdp)
	if err != nil {
		return
	}
	s.answers++
	if s.answers == 1 && len(o.media) > 0 {
		s.mid = o.media[0].mid
	}
	err = s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Answer{Answer: &livekit.SessionDescription{
		Type: "answer", Sdp: s.link.answer(o, s.answers), Id: sd.Id}}})
	if err != nil {
		return
	}
	if s.answers == 1 { // after the answer, so the SFU knows the session the candidates are for
		for _, c := range s.link.candidates {
			s.trickle(c)
		}
	}
	s.link.connect(o)
}

// trickle sends a local candidate, named by the first bundled section.
func (s *subscriber) trickle(candidate string) {
	var zero uint16
	mid := s.mid
	_ = s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Trickle{
		Trickle: protosignalling.ToProtoTrickle(webrtc.ICECandidateInit{Candidate: candidate, SDPMid: &mid, SDPMLineIndex: &zero},
			livekit.SignalTarget_SUBSCRIBER, false)}})
}

// want subscribes to the first audio track among ps, once.
func (s *subscriber) want(ps []*livekit.ParticipantInfo) {
	if s.wanted {
		return
	}
	for _, p := range ps {
		for _, t := range p.Tracks {
			if t.Type == livekit.TrackType_AUDIO {
				s.wanted = s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Subscription{
					Subscription: &livekit.UpdateSubscription{TrackSids: []string{t.Sid}, Subscribe: true}}}) == nil
				return
			}
		}
	}
}

// ping keeps the signalling connection known to be alive, as LiveKit's
// clients do every interval it gave.
func (s *subscriber) ping(every time.Duration) {
	if every <= 0 {
		every = 5 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.done:
			return
		case <-t.C:
			_ = s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Ping{Ping: time.Now().UnixMilli()}})
		}
	}
}

// close leaves the room and waits for the signalling to end.
func (s *subscriber) close() {
	_ = s.send(&livekit.SignalRequest{Message: &livekit.SignalRequest_Leave{Leave: &livekit.LeaveRequest{Reason: livekit.DisconnectReason_CLIENT_INITIATED}}})
	s.link.close()
	s.ws.Close()
	<-s.done
}
