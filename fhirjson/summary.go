package fhirjson

import "slices"

// IsSummaryElement reports whether name, a top-level JSON element of a
// resource of type typ, is one _summary=true keeps: a summary element of
// the type in R4 (id and meta are summary elements of every type), or the
// "_name" companion of one (a primitive's id and extensions).
func IsSummaryElement(typ, name string) bool {
	return slices.Contains(summaryElements[typ], companionOf(name))
}

// IsMandatoryElement reports whether name, a top-level JSON element of a
// resource of type typ, has a minimum cardinality of 1 or more in R4, or
// is the "_name" companion of one.
func IsMandatoryElement(typ, name string) bool {
	return slices.Contains(mandatoryElements[typ], companionOf(name))
}

// companionOf is the element a "_name" companion stands beside; name for
// any other.
func companionOf(name string) string {
	if len(name) > 1 && name[0] == '_' {
		return name[1:]
	}
	return name
}
