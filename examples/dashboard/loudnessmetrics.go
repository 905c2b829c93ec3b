package main

import (
	"cmp"
	"slices"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacemusic/streamkit/spacemusic/loudness"
)

// liveLoudness is what the shows service tells of its shows' live loudness
// (shows.Service.LiveLoudness): the shows its recorder measures now.
type liveLoudness interface {
	LiveLoudness() map[string]loudness.Live
}

// loudnessCollector exports each measured show's live loudness. Its series
// are per show, so they are served as the per-room ones are (to scrapes with
// credentials unless DASHBOARD_METRICS_PUBLIC_ROOMS) and capped the same
// way: at most limit shows, those clipping first (the alert must see them),
// then by name; a show past the limit has no series rather than a sum, as
// loudness does not add up. A show that ends takes its series with it.
type loudnessCollector struct {
	shows liveLoudness
	limit int
}

var (
	showLoudnessDesc = prometheus.NewDesc("dashboard_show_loudness_lufs", `The show's live loudness as its recorder hears it (EBU R 128, ffmpeg's ebur128): window="momentary" (400 ms), "short" (3 s) or "integrated" (since its track began); -144 for silence.`, []string{"show", "window"}, nil)
	showTruePeakDesc = prometheus.NewDesc("dashboard_show_true_peak_dbtp", "The show's true peak in its latest 100 ms window, dBTP; above -1 it clips.", []string{"show"}, nil)
	showClippingDesc = prometheus.NewDesc("dashboard_show_clipping", "1 while the show clips (a clipped window in 2 of its last 3 seconds; clipping_started), 0 once 3 seconds were clean.", []string{"show"}, nil)
	showClippedDesc  = prometheus.NewDesc("dashboard_show_clipped_seconds_total", "How long the show's 100 ms windows clipped (true peak above -1 dBTP) since its track began.", []string{"show"}, nil)
)

func (c loudnessCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{showLoudnessDesc, showTruePeakDesc, showClippingDesc, showClippedDesc} {
		ch <- d
	}
}

func (c loudnessCollector) Collect(ch chan<- prometheus.Metric) {
	live := c.shows.LiveLoudness()
	names := make([]string, 0, len(live))
	for name := range live {
		names = append(names, name)
	}
	slices.SortFunc(names, func(a, b string) int {
		return cmp.Or(-cmp.Compare(b2i(live[a].Clipping), b2i(live[b].Clipping)), cmp.Compare(a, b))
	})
	for _, name := range names[:min(len(names), c.limit)] {
		l := live[name]
		for window, v := range map[string]float64{"momentary": l.Momentary, "short": l.ShortTerm, "integrated": l.Integrated} {
			ch <- prometheus.MustNewConstMetric(showLoudnessDesc, prometheus.GaugeValue, v, name, window)
		}
		ch <- prometheus.MustNewConstMetric(showTruePeakDesc, prometheus.GaugeValue, l.TruePeak, name)
		ch <- prometheus.MustNewConstMetric(showClippingDesc, prometheus.GaugeValue, float64(b2i(l.Clipping)), name)
		ch <- prometheus.MustNewConstMetric(showClippedDesc, prometheus.CounterValue, l.Clipped.Seconds(), name)
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
