// Package fhirjson validates FHIR R4 resources (JSON) against the official HL7
// FHIR R4 JSON schema before carechain encrypts and stores them.
//
// Parse is the way in for a write: it parses a resource once, validates it,
// and returns a *Resource that callers read (Type, ID, Reference,
// CodingCodes), adjust (SetID, DropMeta) and encode (Canonical) without
// parsing the JSON again. Validate and Canonical do one of those each, with
// one parse per call.
//
// The schema (schema/fhir.r4.schema.json, see schema/README.md for its
// provenance) is embedded and compiled once, lazily, on first use. A resource
// is validated against the definition for its own resourceType
// (#/definitions/<ResourceType>) rather than the schema's top-level oneOf
// over all 146 resource types, which is both faster and gives errors about
// the resource actually sent.
//
// The schema file is embedded unmodified. The parsed copy is adjusted in
// memory in two documented ways before compiling, and one check runs after
// the schema:
//
//   - definitions/ResourceList (any resource: contained, Bundle.entry.resource,
//     ...) dispatches on resourceType instead of evaluating a oneOf over all
//     146 resources, which costs 146^depth for nested resources (a denial of
//     service); the two are equivalent (see replaceResourceList);
//   - complex types must be JSON objects (requireObjects): the HL7 schema
//     omits "type": "object", so {"subject": 42} would pass;
//   - integer, unsignedInt and positiveInt must be whole numbers in their
//     32-bit range (limitIntegers): the schema's patterns apply to strings
//     only, so 1.5 or 99999999999 would pass;
//   - top-level required elements that JSON Schema cannot express, such as
//     Observation.status, are checked after the schema (requiredElements).
//
// Input limits for untrusted data apply before any of that: MaxResourceSize,
// MaxDepth, valid UTF-8, no duplicate object keys, and every number within
// the range of a 64-bit float. Unmarshal applies the same limits to JSON
// bodies that are decoded into Go structs (Bundles, Consents) rather than
// validated against the schema.
//
// Error messages never contain resource values (resources are health data):
// they name the failing path, the kind of failure, and where relevant what
// the schema allows (enum values, JSON types).
package fhirjson
