package tokens

// Grant is LiveKit's "video" claim: what a token allows. Field names and meaning
// match github.com/livekit/protocol/auth.VideoGrant. The publish/subscribe flags are
// pointers because LiveKit reads an absent flag as "allowed": a listener's token must
// say false explicitly.
type Grant struct {
	RoomCreate bool   `json:"roomCreate,omitempty"`
	RoomList   bool   `json:"roomList,omitempty"`
	RoomRecord bool   `json:"roomRecord,omitempty"`
	RoomAdmin  bool   `json:"roomAdmin,omitempty"`
	RoomJoin   bool   `json:"roomJoin,omitempty"`
	Room       string `json:"room,omitempty"`

	CanPublish     *bool `json:"canPublish,omitempty"`
	CanSubscribe   *bool `json:"canSubscribe,omitempty"`
	CanPublishData *bool `json:"canPublishData,omitempty"`
	// CanPublishSources limits publishing to these sources: "camera", "microphone",
	// "screen_share", "screen_share_audio". Empty means every source.
	CanPublishSources    []string `json:"canPublishSources,omitempty"`
	CanUpdateOwnMetadata *bool    `json:"canUpdateOwnMetadata,omitempty"`

	IngressAdmin bool `json:"ingressAdmin,omitempty"`
	Hidden       bool `json:"hidden,omitempty"`
	Recorder     bool `json:"recorder,omitempty"`
}

// Bool returns a pointer to v, for Grant's explicit flags.
func Bool(v bool) *bool { return &v }

var (
	yes = Bool(true)
	no  = Bool(false)
)

// appendJSON appends the grant as LiveKit's JSON object, with the same omissions as
// encoding/json would make (checked by a test).
func (g *Grant) appendJSON(b []byte) []byte {
	b = append(b, '{')
	first := true
	field := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	flag := func(name string, v bool) {
		if v {
			field(name)
			b = append(b, "true"...)
		}
	}
	explicit := func(name string, v *bool) {
		if v != nil {
			field(name)
			b = appendBool(b, *v)
		}
	}
	flag("roomCreate", g.RoomCreate)
	flag("roomList", g.RoomList)
	flag("roomRecord", g.RoomRecord)
	flag("roomAdmin", g.RoomAdmin)
	flag("roomJoin", g.RoomJoin)
	if g.Room != "" {
		field("room")
		b = appendString(b, g.Room)
	}
	explicit("canPublish", g.CanPublish)
	explicit("canSubscribe", g.CanSubscribe)
	explicit("canPublishData", g.CanPublishData)
	if len(g.CanPublishSources) > 0 {
		field("canPublishSources")
		b = append(b, '[')
		for i, s := range g.CanPublishSources {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, s)
		}
		b = append(b, ']')
	}
	explicit("canUpdateOwnMetadata", g.CanUpdateOwnMetadata)
	flag("ingressAdmin", g.IngressAdmin)
	flag("hidden", g.Hidden)
	flag("recorder", g.Recorder)
	return append(b, '}')
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, "true"...)
	}
	return append(b, "false"...)
}
