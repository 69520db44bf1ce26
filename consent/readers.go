package consent

import (
	"slices"

	"github.com/carechain/carechain"
)

// Who holds keys. Records are sealed per patient and category under epoch
// keys, and an epoch key is wrapped to readers: a patient (who holds their
// own key) or an organization (whose nodes hold its key for its staff). These
// are the rules that name the reader; the ledger and the nodes both use them.

// ReaderOf names the reader a principal reads through: a patient reads with
// their own key, anyone else through their organization's.
func ReaderOf(p *carechain.Principal) string {
	if p.Kind == carechain.KindPatient {
		return p.ID
	}
	return p.Org
}

// Reader names the reader that must hold the keys a grant gives g: the
// organization of an organization grantee, else the reader of the principal
// (looked up by principal).
func (g Grantee) Reader(principal func(id string) (*carechain.Principal, error)) (string, error) {
	if g.Org != "" {
		return g.Org, nil
	}
	p, err := principal(g.Principal)
	if err != nil {
		return "", err
	}
	return ReaderOf(p), nil
}

// NeedsKeys reports whether g's grantee must hold the keys of category at
// time now: g is a live (not revoked, not expired) read grant covering it.
func (g *Grant) NeedsKeys(category string, now int64) bool {
	return !g.Revoked && (g.NotAfter == 0 || g.NotAfter > now) &&
		slices.Contains(g.Actions, ActionRead) && CoversCategory(g.Categories, category)
}

// CoversCategory reports whether a category list (possibly AnyCategory)
// covers c.
func CoversCategory(cats []string, c string) bool {
	return slices.Contains(cats, c) || slices.Contains(cats, AnyCategory)
}

// AddReaders returns readers with more added, sorted and without duplicates.
// Reader lists are kept in this form, so two lists compare with slices.Equal.
func AddReaders(readers []string, more ...string) []string {
	out := slices.Clone(readers)
	for _, r := range more {
		if !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	slices.Sort(out)
	return out
}
