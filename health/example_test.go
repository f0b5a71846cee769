//go:build linux

package health_test

import (
	"os"

	"github.com/rs/zerolog"

	"github.com/resreap/resreap/health"
)

func ExampleScanner() {
	log := zerolog.New(os.Stderr)
	s, err := health.NewScanner(health.ScannerOptions{Log: log})
	if err != nil {
		log.Fatal().Err(err).Msg("health scanner")
	}
	defer s.Close()
	log.Info().Str("reader", s.Reader()).Msg("health scan ready")

	pol := health.DefaultPolicy()
	pol.CloseWait.Ignore, _ = health.ParseIgnore([]string{"10.0.0.0/8:5432"})
	targets := []health.Target{{Name: "web", PID: 4242, Descendants: true, Policy: pol}}

	// Once per tick:
	for _, r := range s.Scan(targets) {
		if r.Verdict != nil {
			log.Warn().Str("child", r.Name).Str("reason", string(r.Verdict.Reason)).
				Msg(r.Verdict.Summary())
			env := append(os.Environ(), health.HookEnv(r.Name, r.PIDs[0], r.Verdict)...)
			_ = env // run the before-restart hook with env, then restart
			s.Forget(r.Name)
		}
	}
}
