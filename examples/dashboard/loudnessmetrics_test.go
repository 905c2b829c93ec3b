package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spacemusic/streamkit/spacemusic/loudness"
)

// measured is a shows service whose recorder measures these shows now.
type measured map[string]loudness.Live

func (m measured) LiveLoudness() map[string]loudness.Live { return m }

// scrapeSeries collects c and returns "name{label values,…}" -> value.
func scrapeSeries(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	require.NoError(t, reg.Register(c))
	mfs, err := reg.Gather()
	require.NoError(t, err)
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName() + "{"
			for i, l := range m.GetLabel() {
				if i > 0 {
					key += ","
				}
				key += l.GetValue()
			}
			v := m.GetGauge().GetValue()
			if m.GetCounter() != nil {
				v = m.GetCounter().GetValue()
			}
			out[key+"}"] = v
		}
	}
	return out
}

// Three shows are measured, the limit is two: Bo's clips, so it keeps its
// series though its name sorts last; Ada's is next by name; Cy's has none.
// A show that ended is no longer measured, and its series are gone.
func TestShowLoudnessMetricsAreCappedWithClippingShowsFirst(t *testing.T) {
	shows := measured{
		"ada-set": {Reading: loudness.Reading{Momentary: -20, ShortTerm: -20.5, Integrated: -21, TruePeak: -18}},
		"cy-set":  {Reading: loudness.Reading{Momentary: -30, ShortTerm: -30, Integrated: -30, TruePeak: -25}},
		"zo-set":  {Reading: loudness.Reading{Momentary: 5, ShortTerm: 5, Integrated: 4, TruePeak: 6}, Clipping: true, Clipped: 12500 * time.Millisecond},
	}
	got := scrapeSeries(t, loudnessCollector{shows: shows, limit: 2})
	assert.Equal(t, map[string]float64{
		"dashboard_show_loudness_lufs{ada-set,momentary}": -20, "dashboard_show_loudness_lufs{ada-set,short}": -20.5,
		"dashboard_show_loudness_lufs{ada-set,integrated}": -21, "dashboard_show_true_peak_dbtp{ada-set}": -18,
		"dashboard_show_clipping{ada-set}": 0, "dashboard_show_clipped_seconds_total{ada-set}": 0,
		"dashboard_show_loudness_lufs{zo-set,momentary}": 5, "dashboard_show_loudness_lufs{zo-set,short}": 5,
		"dashboard_show_loudness_lufs{zo-set,integrated}": 4, "dashboard_show_true_peak_dbtp{zo-set}": 6,
		"dashboard_show_clipping{zo-set}": 1, "dashboard_show_clipped_seconds_total{zo-set}": 12.5,
	}, got)

	delete(shows, "zo-set")
	got = scrapeSeries(t, loudnessCollector{shows: shows, limit: 2})
	assert.NotContains(t, got, "dashboard_show_clipping{zo-set}", "an ended show drops its series")
	assert.Contains(t, got, "dashboard_show_clipping{cy-set}")
}
