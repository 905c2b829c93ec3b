package tokens_test

import (
	"fmt"
	"time"

	"github.com/spacemusic/streamkit/spacemusic/tokens"
)

func ExampleIssuer_Performer() {
	issuer, _ := tokens.NewIssuer("devkey", "a-secret-of-at-least-32-characters!!")
	tok, _ := issuer.Performer("friday-jam", "ada", tokens.WithName("Ada"))
	claims, _ := issuer.Verify(tok.JWT)
	g := claims.Grant
	fmt.Println(claims.Identity, g.Room, g.RoomJoin, *g.CanPublish, *g.CanSubscribe, *g.CanPublishData)
	fmt.Println(tok.ExpiresAt.Sub(claims.NotBefore))
	// Output:
	// ada friday-jam true true true true
	// 6h0m0s
}

func ExampleIssuer_Listener() {
	issuer, _ := tokens.NewIssuer("devkey", "a-secret-of-at-least-32-characters!!")
	tok, _ := issuer.Listener("friday-jam", "bob", tokens.WithTTL(90*time.Minute))
	claims, _ := issuer.Verify(tok.JWT)
	g := claims.Grant
	fmt.Println(*g.CanSubscribe, *g.CanPublish, *g.CanPublishData)
	fmt.Println(tok.ExpiresAt.Sub(claims.NotBefore))
	// Output:
	// true false false
	// 1h30m0s
}
