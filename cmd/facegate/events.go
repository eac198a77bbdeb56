package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/facegate/facegate/facedb"
)

func init() {
	register(command{
		name:    "events",
		summary: "list the newest access events and alarms",
		run:     runEvents,
	})
}

func runEvents(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("events", stderr)
	cfgPath := configFlag(fs)
	limit := fs.Int("limit", 50, "show at most `N` records, newest first")
	asJSON := fs.Bool("json", false, "one JSON object per line: the MQTT payload fields plus \"snapshot\"")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *limit < 1 {
		fmt.Fprintln(stderr, "usage: facegate events -config FILE [-limit N] [-json]  (N >= 1)")
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	rs, err := db.Events(ctx, facedb.EventFilter{Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		for _, r := range rs {
			m := r.Fields()
			m["snapshot"] = r.Snapshot
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SEQ\tTIME\tKIND\tTYPE\tPERSON\tSCORE\tSOURCE\tREASON\tSNAPSHOT")
	for _, r := range rs {
		person := "-"
		if r.PersonID != 0 || r.Name != "" {
			person = fmt.Sprintf("%s (%d)", r.Name, r.PersonID)
		}
		score := "-"
		if r.Score != 0 {
			score = fmt.Sprintf("%.3f", r.Score)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Seq, r.TS.Local().Format(time.DateTime), r.Kind, r.Type,
			person, score, eventsDash(r.Source), eventsDash(r.Reason), eventsDash(r.Snapshot))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(rs) == 0 {
		fmt.Fprintln(stderr, "no events recorded yet")
	}
	return nil
}

func eventsDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
