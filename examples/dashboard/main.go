// Command dashboard is streamkit's reference dashboard server: the operators'
// stream dashboard (rooms, participants, tokens, ingress, recordings, shows) as a JSON API
// behind the API gateway's three auth methods, with metrics and an OpenAPI document.
//
//	dashboard -dev          # local real LiveKit, no auth, http://127.0.0.1:8080
//	dashboard -help         # every setting, each also an environment variable
//	dashboard healthcheck   # exit 0 when the dashboard on DASHBOARD_ADDR is healthy
//	dashboard doctor        # check the deployment end to end, each failure with its fix
//	dashboard rehearse -show NAME -max N [-step S] [-hold D] [-want N] [-force] [-json]
//	                        # rehearse a show's audience: exit 1 when the capacity is below -want, 2 on a bad command line
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dashboard:", err)
		var usage usageError
		if errors.As(err, &usage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}
