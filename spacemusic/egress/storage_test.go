package egress_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/spacemusic/streamkit/spacemusic/egress"
)

// Retention and the public endpoint come from the environment: unset keeps 30
// days (RetentionDays 0), "0" keeps recordings forever, anything but a whole
// number of days stops start-up naming the variable.
func TestStorageFromEnvRetentionAndPublicEndpoint(t *testing.T) {
	env := func(kv ...string) func(string) string {
		m := map[string]string{"MINIO_BUCKET": "recordings", "MINIO_ACCESS_KEY": "ak", "MINIO_SECRET_KEY": "sk", "MINIO_ENDPOINT": "http://127.0.0.1:9000"}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return func(k string) string { return m[k] }
	}
	for v, want := range map[string]int{"": 0, "0": egress.KeepForever, "7": 7, " 90 ": 90, "36500": 36500} {
		s := egress.StorageFromEnv(env("MINIO_RETENTION_DAYS", v))
		assert.NoError(t, s.Validate(), "%q", v)
		assert.Equal(t, want, s.RetentionDays, "%q", v)
	}
	for _, v := range []string{"-1", "thirty", "1.5", "36501", "99999999999999999999", "7d"} {
		err := egress.StorageFromEnv(env("MINIO_RETENTION_DAYS", v)).Validate()
		if assert.Error(t, err, "%q", v) {
			assert.Contains(t, err.Error(), "MINIO_RETENTION_DAYS")
		}
	}

	s := egress.StorageFromEnv(env("MINIO_PUBLIC_ENDPOINT", "https://recordings.example.test"))
	assert.NoError(t, s.Validate())
	assert.Equal(t, "https://recordings.example.test", s.PublicEndpoint)
	for _, v := range []string{"ftp://x", "recordings.example.test", "https://x/path", "http://"} {
		err := egress.StorageFromEnv(env("MINIO_PUBLIC_ENDPOINT", v)).Validate()
		if assert.Error(t, err, "%q", v) {
			assert.Contains(t, err.Error(), "MINIO_PUBLIC_ENDPOINT")
		}
	}
}
