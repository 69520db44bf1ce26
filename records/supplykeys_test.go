package records

import (
	"bytes"
	"fmt"
	"testing"
)

// TestProductKeyCache: a key is found by organization, GTIN and wrap only;
// what get returns may be cleared without harm to the cache; the cache is
// bounded.
func TestProductKeyCache(t *testing.T) {
	var c productKeyCache
	key := bytes.Repeat([]byte{7}, 32)
	c.put("pharm", "00312345678906", []byte("wrap"), key)
	clear(key)
	for _, miss := range [][3]string{{"rival", "00312345678906", "wrap"}, {"pharm", "09506000134352", "wrap"}, {"pharm", "00312345678906", "other wrap"}} {
		if k := c.get(miss[0], miss[1], []byte(miss[2])); k != nil {
			t.Fatalf("%v: found a key", miss)
		}
	}
	k := c.get("pharm", "00312345678906", []byte("wrap"))
	if !bytes.Equal(k, bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("got %x", k)
	}
	clear(k)
	if k := c.get("pharm", "00312345678906", []byte("wrap")); !bytes.Equal(k, bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("clearing a returned key changed the cache: %x", k)
	}
	for i := range maxProductKeys + 1 {
		c.put("org", fmt.Sprint(i), []byte("w"), key)
	}
	if len(c.keys) > maxProductKeys {
		t.Fatalf("%d keys cached", len(c.keys))
	}
}
