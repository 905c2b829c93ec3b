package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/spacemusic/streamkit/examples/dashboard/internal/config"
	"github.com/spacemusic/streamkit/examples/dashboard/internal/rehearsals"
	"github.com/spacemusic/streamkit/spacemusic"
	"github.com/spacemusic/streamkit/spacemusic/rehearsal"
	"github.com/spacemusic/streamkit/spacemusic/shows"
)

// usageError is a command line the program cannot run: main exits 2.
type usageError struct{ error }

// rehearseFlags is `dashboard rehearse`'s command line.
type rehearseFlags struct {
	show        string
	max, step   int
	want        int
	hold        time.Duration
	force, json bool
}

func parseRehearse(args []string, out io.Writer) (rehearseFlags, error) {
	var f rehearseFlags
	fs := flag.NewFlagSet("dashboard rehearse", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&f.show, "show", "", "the show to rehearse (required)")
	fs.IntVar(&f.max, "max", 0, "listeners of the last step (required, at most 1000)")
	fs.IntVar(&f.step, "step", 0, "listeners added each step (default: 10, 25, 50, 100, 250, 500 below -max)")
	fs.IntVar(&f.want, "want", 0, "exit 1 unless the capacity found is at least this")
	fs.DurationVar(&f.hold, "hold", rehearsal.DefaultHold, "each step's measuring window")
	fs.BoolVar(&f.force, "force", false, "rehearse a live show: the listeners hear the show itself")
	fs.BoolVar(&f.json, "json", false, "print the result as JSON (as GET /api/shows/{name}/rehearsal)")
	if err := fs.Parse(args); err != nil {
		return f, usageError{err}
	}
	switch {
	case fs.NArg() > 0:
		return f, usageError{fmt.Errorf("rehearse: unexpected argument %q", fs.Arg(0))}
	case f.show == "":
		return f, usageError{errors.New("rehearse: -show is required")}
	case f.max < 1 || f.max > rehearsal.MaxListeners:
		return f, usageError{fmt.Errorf("rehearse: -max is between 1 and %d", rehearsal.MaxListeners)}
	case f.step < 0 || f.want < 0:
		return f, usageError{errors.New("rehearse: -step and -want are not negative")}
	}
	return f, nil
}

// steps are the listener counts to try: -step apart, or the default ladder
// below -max; -max last.
func (f rehearseFlags) steps() []int {
	var out []int
	if f.step > 0 {
		for n := f.step; n < f.max; n += f.step {
			out = append(out, n)
		}
	} else {
		for _, n := range rehearsal.DefaultSteps {
			if n < f.max {
				out = append(out, n)
			}
		}
	}
	return append(out, f.max)
}

// runRehearse is `dashboard rehearse`: a rehearsal of a show's audience from
// the command line, with the dashboard's settings (LIVEKIT_*,
// DASHBOARD_LIVEKIT_METRICS_URL). It prints each step as it closes (or the
// result as JSON) and fails when the capacity is below -want. It does not
// know of a rehearsal a dashboard runs meanwhile: run one at a time.
func runRehearse(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	f, err := parseRehearse(args, stdout)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return err
	}
	o := rehearsal.Options{Steps: f.steps(), Hold: f.hold, Deadline: rehearsals.Deadline}
	if err := o.Check(); err != nil {
		return usageError{err}
	}
	s, err := config.Load(nil, getenv, stdout)
	if err != nil {
		return err
	}
	cfg := spacemusic.ConfigFromGetenv(getenv)
	cfg.Timeout = s.LiveKitTimeout
	sm, svc, err := clientAndShows(cfg)
	if err != nil {
		return err
	}
	sh, err := svc.Get(ctx, f.show)
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	if sh.Phase == shows.Live {
		if !f.force {
			return errors.New("rehearse: the show is live: its audience would hear the load; -force rehearses on it anyway")
		}
		o.Room = sh.Room.Name
	}
	if !f.json {
		fmt.Fprintln(stdout, "listeners  loss %  jitter p50/p95 ms  join p50/p95 ms  SFU CPU s  generator CPU s")
		o.Stepped = func(st rehearsal.Step) { fmt.Fprintln(stdout, stepLine(rehearsals.ViewOfStep(st))) }
	}
	res, err := rehearsal.Run(ctx, rehearsal.Config{URL: cfg.URL, Tokens: sm.Tokens, MetricsURL: s.LiveKitMetrics}, o)
	if err != nil {
		return fmt.Errorf("rehearse: %w", err)
	}
	v := rehearsals.ViewOf(f.show, res)
	if f.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(stdout, "capacity: %d listeners%s\n", v.Capacity, map[bool]string{true: " (" + v.Reason + ")", false: ""}[v.Reason != ""])
	}
	if v.Capacity < f.want {
		return fmt.Errorf("rehearse: the capacity found, %d listeners, is below -want %d", v.Capacity, f.want)
	}
	return nil
}

// clientAndShows is the facade's client on cfg and its shows, without a
// recorder or the live model: what a subcommand needs.
func clientAndShows(cfg spacemusic.Config) (*spacemusic.Client, *shows.Service, error) {
	sm, err := spacemusic.New(cfg)
	if err != nil {
		return nil, nil, err
	}
	svc, err := showsOn(sm, nil, "", nil)
	return sm, svc, err
}

func stepLine(s rehearsals.StepView) string {
	cpu := "-"
	if s.SFUCPU != nil {
		cpu = fmt.Sprintf("%.2f", *s.SFUCPU)
	}
	verdict := "ok"
	if !s.Passed {
		verdict = "crossed the " + s.Crossed + " limit"
	}
	return fmt.Sprintf("%9d  %6.2f  %8.1f / %-6.1f  %7.0f / %-6.0f  %9s  %15.2f  %s",
		s.Listeners, s.LossPercent, s.JitterP50Ms, s.JitterP95Ms, s.JoinP50Ms, s.JoinP95Ms, cpu, s.GeneratorCPU, verdict)
}
