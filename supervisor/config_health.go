package supervisor

import "github.com/resreap/resreap/health"

// checkIgnore validates an ignore_foreign list with the parser the health
// scan uses, so the config check and the scan can never disagree.
func checkIgnore(entries []string) error {
	_, err := health.ParseIgnore(entries)
	return err
}
