package rehearsal

import (
	"errors"
	"fmt"
	"strings"

	"github.com/pion/sdp/v3"
)

// offer is what a listener takes from the SFU's SDP offer: its ICE
// credentials, its certificate's fingerprint, and each media section.
type offer struct {
	ufrag, pwd, fingerprint string
	lite                    bool // an ICE-lite SFU: the listener controls
	media                   []section
	candidates              []string // a=candidate values, if the offer carries any
}

// section is one m= line of the offer.
type section struct {
	kind    string // audio, video, application
	mid     string
	proto   string
	formats []string
	opus    string // audio: Opus's payload type; "" none
	sending bool   // the SFU sends on it (sendonly or sendrecv)
}

// parseOffer reads the SFU's offer. Credentials may be written per session
// or per section; BUNDLE makes them one.
func parseOffer(raw string) (offer, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return offer{}, err
	}
	var o offer
	attr := func(m *sdp.MediaDescription, key string) string {
		if v, ok := m.Attribute(key); ok {
			return v
		}
		v, _ := sd.Attribute(key)
		return v
	}
	_, o.lite = sd.Attribute("ice-lite")
	for _, m := range sd.MediaDescriptions {
		if o.ufrag == "" {
			o.ufrag, o.pwd = attr(m, "ice-ufrag"), attr(m, "ice-pwd")
			if f := strings.Fields(attr(m, "fingerprint")); len(f) == 2 && strings.EqualFold(f[0], "sha-256") {
				o.fingerprint = f[1]
			}
		}
		for _, a := range m.Attributes {
			if a.Key == "candidate" {
				o.candidates = append(o.candidates, a.Value)
			}
		}
		s := section{kind: m.MediaName.Media, mid: attr(m, "mid"), proto: strings.Join(m.MediaName.Protos, "/"), formats: m.MediaName.Formats}
		_, sendonly := m.Attribute("sendonly")
		_, sendrecv := m.Attribute("sendrecv")
		s.sending = sendonly || sendrecv
		for _, a := range m.Attributes {
			if pt, codec, ok := strings.Cut(a.Value, " "); a.Key == "rtpmap" && ok && strings.HasPrefix(strings.ToLower(codec), "opus/48000") {
				s.opus = pt
				break
			}
		}
		o.media = append(o.media, s)
	}
	switch {
	case o.ufrag == "" || o.pwd == "":
		return o, errors.New("the offer has no ICE credentials")
	case o.fingerprint == "":
		return o, errors.New("the offer has no sha-256 fingerprint")
	}
	return o, nil
}

// answer accepts o as a listener: every audio section receives Opus, the
// data section is accepted (and its channels left unread), anything else is
// declined. version is the answer's session version, one more each time.
func (l *link) answer(o offer, version int) string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\r\n", args...) }
	line("v=0")
	line("o=- 1 %d IN IP4 127.0.0.1", version)
	line("s=-")
	line("t=0 0")
	var bundle []string
	for _, m := range o.media {
		if m.kind == "application" || (m.kind == "audio" && m.opus != "") {
			bundle = append(bundle, m.mid)
		}
	}
	line("a=group:BUNDLE %s", strings.Join(bundle, " "))
	for _, m := range o.media {
		switch {
		case m.kind == "application":
			line("m=application 9 %s webrtc-datachannel", m.proto)
			l.transport(line, m.mid)
			line("a=sctp-port:5000")
		case m.kind == "audio" && m.opus != "":
			line("m=audio 9 %s %s", m.proto, m.opus)
			l.transport(line, m.mid)
			if m.sending {
				line("a=recvonly")
			} else {
				line("a=inactive")
			}
			line("a=rtpmap:%s opus/48000/2", m.opus)
			line("a=fmtp:%s minptime=10;useinbandfec=1", m.opus)
		default: // declined: port 0 (RFC 3264, 6)
			pt := "0"
			if len(m.formats) > 0 {
				pt = m.formats[0]
			}
			line("m=%s 0 %s %s", m.kind, m.proto, pt)
			line("c=IN IP4 0.0.0.0")
			line("a=mid:%s", m.mid)
			line("a=inactive")
		}
	}
	return b.String()
}

// transport writes a bundled section's connection, ICE and DTLS lines.
func (l *link) transport(line func(string, ...any), mid string) {
	line("c=IN IP4 0.0.0.0")
	line("a=mid:%s", mid)
	line("a=ice-ufrag:%s", l.ufrag)
	line("a=ice-pwd:%s", l.pwd)
	line("a=fingerprint:sha-256 %s", l.kit.fingerprint)
	line("a=setup:active") // the listener is the DTLS client
	line("a=rtcp-mux")
}
