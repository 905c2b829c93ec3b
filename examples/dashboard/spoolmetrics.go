package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/spacemusic/streamkit/spacemusic/capture"
)

// spooler is what the shows service tells of its recorder's spool.
type spooler interface {
	Spool() (capture.SpoolStats, bool)
}

// spoolCollector exports the recorder's spool: no labels (one spool per
// process), so nothing a show is called reaches an anonymous scrape.
type spoolCollector struct{ shows spooler }

var (
	spoolBytesDesc    = prometheus.NewDesc("dashboard_spool_bytes", "Bytes in the shows' recorder spool (DASHBOARD_SPOOL_DIR), parts being written included.", nil, nil)
	spoolMaxBytesDesc = prometheus.NewDesc("dashboard_spool_max_bytes", "The spool's limit, DASHBOARD_SPOOL_MAX_BYTES (absent: none).", nil, nil)
	spoolFreeDesc     = prometheus.NewDesc("dashboard_spool_free_bytes", "Free space on the spool's file system at the recorder's last look.", nil, nil)
	spoolFullDesc     = prometheus.NewDesc("dashboard_spool_full", "1 while a show's new audio is not recorded because the spool reached DASHBOARD_SPOOL_MAX_BYTES or DASHBOARD_SPOOL_MIN_FREE.", nil, nil)
)

func (c spoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{spoolBytesDesc, spoolMaxBytesDesc, spoolFreeDesc, spoolFullDesc} {
		ch <- d
	}
}

func (c spoolCollector) Collect(ch chan<- prometheus.Metric) {
	st, ok := c.shows.Spool()
	if !ok {
		return // no recorder: egress records the shows
	}
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	gauge(spoolBytesDesc, st.Bytes)
	if st.MaxBytes > 0 {
		gauge(spoolMaxBytesDesc, st.MaxBytes)
	}
	if st.Free >= 0 {
		gauge(spoolFreeDesc, st.Free)
	}
	full := int64(0)
	if st.Full {
		full = 1
	}
	gauge(spoolFullDesc, full)
}
