package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/fhirrest"
)

func (c *cli) tokenCmd() *cobra.Command {
	var s signerFlags
	var scope string
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Get a FHIR API access token (SMART backend services, private_key_jwt)",
		Long: `token signs a client assertion (a JWT, EdDSA) with the --as principal's ledger
key from the keystore, exchanges it at the node's /auth/token, and prints the
access token. Use it as a bearer token:

  TOKEN=$(carechain token --as st-mary/dr-chen --home ~/.carechain/demo)
  curl -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:8080/fhir/Observation?patient=Patient/demo-02"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, tok, err := c.fhirToken(&s, scope)
			if err != nil {
				return err
			}
			fmt.Fprintln(c.out, tok)
			return nil
		},
	}
	s.register(cmd)
	cmd.Flags().StringVar(&scope, "scope", "", "requested SMART scopes, such as system/Observation.rs (default: all of the principal's context: system/*.cruds, or patient/*.cruds for a patient)")
	return cmd
}

// fhirToken gets an access token of the FHIR API of the signer's node,
// with a client assertion signed by the signer's key; it returns the node's
// base URL and the token.
func (c *cli) fhirToken(s *signerFlags, scope string) (string, string, error) {
	key, err := c.unlock(s)
	if err != nil {
		return "", "", err
	}
	hc, err := c.httpClient(s.home)
	if err != nil {
		return "", "", err
	}
	base := c.nodeURL(s.nodeAddr, s.home)
	tokenURL := base + "/auth/token"
	assertion, err := fhirrest.ClientAssertion(s.as, key, tokenURL)
	if err != nil {
		return "", "", err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	resp, err := hc.PostForm(tokenURL, form)
	if err != nil {
		return "", "", err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
		return "", "", fmt.Errorf("token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", "", fmt.Errorf("token refused (HTTP %d): %s: %s", resp.StatusCode, tr.Error, tr.Description)
	}
	return base, tr.AccessToken, nil
}
