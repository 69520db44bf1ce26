package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/spf13/cobra"
)

// Every command the README shows must be run by some test: run and
// startProcess note the command path of each invocation (ran), and after
// a full run of the package's tests, readmeUnexercised lists the README's
// command paths that no test ran.

// ran is the set of command paths the tests ran ("consent grant").
var ran = struct {
	sync.Mutex
	paths map[string]bool
}{paths: map[string]bool{}}

// noteRun records the command path of args.
func noteRun(args []string) {
	path := commandPath(args)
	ran.Lock()
	ran.paths[path] = true
	ran.Unlock()
}

// commandPath is the subcommand words at the start of args, as the CLI's
// command tree reads them ("keys export-public" of "keys export-public x
// --home h").
func commandPath(args []string) string {
	cmd := newRoot(strings.NewReader(""), io.Discard, io.Discard)
	var words []string
	for _, a := range args {
		next := subcommand(cmd, a)
		if next == nil {
			break
		}
		words = append(words, a)
		cmd = next
	}
	return strings.Join(words, " ")
}

func subcommand(cmd *cobra.Command, name string) *cobra.Command {
	for _, c := range cmd.Commands() {
		if c.Name() == name {
			return c
		}
	}
	return nil
}

// readmeCommand finds carechain invocations in the README's shell blocks.
var readmeCommand = regexp.MustCompile(`(?:^|[\s($"/])(?:\./)?carechain ((?:[a-z][a-z-]* ?)+)`)

// readmePaths are the command paths the README's shell blocks run.
func readmePaths(readme string) ([]string, error) {
	f, err := os.Open(readme)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var paths []string
	inShell := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inShell = !inShell && strings.HasPrefix(line, "```sh")
			continue
		case !inShell || strings.HasPrefix(strings.TrimSpace(line), "#"):
			continue
		}
		for _, m := range readmeCommand.FindAllStringSubmatch(line, -1) {
			if p := commandPath(strings.Fields(m[1])); p != "" && !slices.Contains(paths, p) {
				paths = append(paths, p)
			}
		}
	}
	return paths, sc.Err()
}

// readmeUnexercised lists the README's command paths no test ran, or says
// why it did not check.
func readmeUnexercised() (missing []string, skipped string, err error) {
	if testing.Short() {
		return nil, "-short skips the tests that run the binary", nil
	}
	if raceEnabled {
		return nil, "-race skips the tests that drive node subprocesses (skipUnderRace): the run without -race checks the README", nil
	}
	if f := flag.Lookup("test.run"); f != nil && f.Value.String() != "" {
		return nil, "-run selects some tests", nil
	}
	paths, err := readmePaths("../../README.md")
	if err != nil {
		return nil, "", err
	}
	ran.Lock()
	defer ran.Unlock()
	for _, p := range paths {
		if !ran.paths[p] {
			missing = append(missing, p)
		}
	}
	return missing, "", nil
}

// checkReadme reports README commands no test ran; it returns false if
// there were any.
func checkReadme() bool {
	missing, skipped, err := readmeUnexercised()
	switch {
	case err != nil:
		fmt.Fprintln(os.Stderr, "README commands:", err)
		return false
	case skipped != "":
		return true
	case len(missing) > 0:
		fmt.Fprintf(os.Stderr, "FAIL: the README shows commands no test runs: %s\n", strings.Join(missing, "; "))
		return false
	}
	return true
}

// TestReadmePaths: the README parser finds the command paths of its
// invocations, and only real commands.
func TestReadmePaths(t *testing.T) {
	paths, err := readmePaths("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"demo", "init", "start", "keys new", "consent grant", "tx register"} {
		if !slices.Contains(paths, want) {
			t.Errorf("README paths %v lack %q", paths, want)
		}
	}
	if p := commandPath([]string{"keys", "export-public", "x", "--home", "h"}); p != "keys export-public" {
		t.Errorf("commandPath = %q", p)
	}
}
