package study

import (
	"fmt"
	"strings"
)

// The text forms of a protocol's lists, as the CLI's flags and the portal's
// forms take them, one item each: an endpoint "KIND:ID:DESCRIPTION", an arm
// "ID:DESCRIPTION", a criterion "ID:EXPR". Spaces around each part are
// dropped; the last part may hold colons.

// ParseEndpoint reads an endpoint "KIND:ID:DESCRIPTION".
func ParseEndpoint(s string) (Endpoint, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 {
		return Endpoint{}, fmt.Errorf("endpoint %q: want KIND:ID:DESCRIPTION", s)
	}
	return Endpoint{Kind: strings.TrimSpace(parts[0]), ID: strings.TrimSpace(parts[1]), Description: strings.TrimSpace(parts[2])}, nil
}

// ParseArm reads an arm "ID:DESCRIPTION".
func ParseArm(s string) Arm {
	id, desc, _ := strings.Cut(s, ":")
	return Arm{ID: strings.TrimSpace(id), Description: strings.TrimSpace(desc)}
}

// ParseCriterion reads a criterion "ID:EXPR".
func ParseCriterion(s string) Criterion {
	id, expr, _ := strings.Cut(s, ":")
	return Criterion{ID: strings.TrimSpace(id), Expr: strings.TrimSpace(expr)}
}

// Text is p's lists in their text forms, one item a line.
func (p *Protocol) Text() (endpoints, arms, criteria string) {
	var e, a, c []string
	for _, x := range p.Endpoints {
		e = append(e, x.Kind+": "+x.ID+": "+x.Description)
	}
	for _, x := range p.Arms {
		a = append(a, x.ID+": "+x.Description)
	}
	for _, x := range p.Criteria {
		c = append(c, x.ID+": "+x.Expr)
	}
	return strings.Join(e, "\n"), strings.Join(a, "\n"), strings.Join(c, "\n")
}
