package rehearsal

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sfuOffer is an offer as LiveKit writes one for a subscriber: the data
// section first, then the show's audio, and a video section the listener
// must decline.
func sfuOffer(extra string) string {
	return strings.ReplaceAll(`v=0
o=- 1 1 IN IP4 0.0.0.0
s=-
t=0 0
a=group:BUNDLE 0 1 2
m=application 9 UDP/DTLS/SCTP webrtc-datachannel
c=IN IP4 0.0.0.0
a=ice-ufrag:sfuUfrag
a=ice-pwd:sfuPasswordSfuPasswordSfu
a=fingerprint:sha-256 AB:CD
a=setup:actpass
a=mid:0
a=sctp-port:5000
`+extra+`m=audio 9 UDP/TLS/RTP/SAVPF 111 63
c=IN IP4 0.0.0.0
a=mid:1
a=sendonly
a=rtpmap:63 red/48000/2
a=rtpmap:111 opus/48000/2
m=video 9 UDP/TLS/RTP/SAVPF 96
c=IN IP4 0.0.0.0
a=mid:2
a=sendonly
a=rtpmap:96 VP8/90000
`, "\n", "\r\n")
}

// The listener answers as a receiver of the show's Opus only: audio received,
// data accepted and left unread, video declined; its own credentials and the
// kit's fingerprint in every section it keeps.
func TestTheAnswerReceivesOpusAndDeclinesTheRest(t *testing.T) {
	o, err := parseOffer(sfuOffer(""))
	require.NoError(t, err)
	assert.Equal(t, "sfuUfrag", o.ufrag)
	assert.False(t, o.lite)
	l := &link{kit: &kit{fingerprint: "01:02"}, ufrag: "mine", pwd: "secret"}
	a := l.answer(o, 1)
	assert.Contains(t, a, "a=group:BUNDLE 0 1\r\n")
	assert.Contains(t, a, "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n")
	assert.Contains(t, a, "a=recvonly\r\n")
	assert.Contains(t, a, "m=video 0 UDP/TLS/RTP/SAVPF 96\r\n")
	assert.Equal(t, 2, strings.Count(a, "a=fingerprint:sha-256 01:02\r\n"))
	assert.Equal(t, 2, strings.Count(a, "a=setup:active\r\n"))
	assert.NotContains(t, a, "sfuPassword", "the SFU's password stays its own")
}

// An offer without ICE credentials or a fingerprint is refused: the listener
// would connect to something it cannot authenticate.
func TestAnOfferWithoutCredentialsIsRefused(t *testing.T) {
	for name, broken := range map[string]string{
		"no ufrag":       strings.Replace(sfuOffer(""), "a=ice-ufrag:sfuUfrag\r\n", "", 1),
		"no fingerprint": strings.Replace(sfuOffer(""), "a=fingerprint:sha-256 AB:CD\r\n", "", 1),
		"sha-1 only":     strings.Replace(sfuOffer(""), "sha-256 AB:CD", "sha-1 AB:CD", 1),
		"not SDP":        "hello",
	} {
		_, err := parseOffer(broken)
		assert.Error(t, err, name)
	}
}

// A hostile signalling peer names candidates to make a listener send its
// checks elsewhere: it reaches at most 16 of them, over UDP/IPv4 only.
func TestTheSFUsCandidatesAreBounded(t *testing.T) {
	l := &link{}
	l.addCandidate("candidate:1 1 tcp 2130706431 127.0.0.1 7881 typ host tcptype passive")
	l.addCandidate("candidate:1 1 udp 2130706431 ::1 7882 typ host")
	l.addCandidate("not a candidate")
	for i := range 40 {
		l.addCandidate(fmt.Sprintf("candidate:%d 1 udp 2130706431 127.0.0.1 %d typ host", i, 20000+i))
	}
	require.Len(t, l.cands, 16)
	assert.Equal(t, "127.0.0.1:20000", l.cands[0].String())
}
