package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/facegate/facegate/facedb"
)

func init() {
	register(command{
		name:    "people",
		summary: "list, enable, disable or delete enrolled people",
		run:     runPeople,
	})
}

func runPeople(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("people", stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "list: one JSON object per person and line")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	usage := func() error {
		fmt.Fprintln(stderr, "usage: facegate people -config FILE [list | disable ID | enable ID | delete ID]")
		return errUsage
	}
	action := "list"
	if len(pos) > 0 {
		action = pos[0]
	}
	var id int64
	switch action {
	case "list":
		if len(pos) > 1 {
			return usage()
		}
	case "disable", "enable", "delete":
		if len(pos) != 2 {
			return usage()
		}
		if id, err = strconv.ParseInt(pos[1], 10, 64); err != nil || id <= 0 {
			fmt.Fprintf(stderr, "facegate people: %q is not a person id\n", pos[1])
			return usage()
		}
	default:
		return usage()
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

	if action != "list" {
		if err := refuseSitePerson(ctx, db, id, action); err != nil {
			return err
		}
	}
	switch action {
	case "list":
		people, err := db.People(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			enc := json.NewEncoder(stdout)
			for _, p := range people {
				if err := enc.Encode(personJSON(p, time.Now())); err != nil {
					return err
				}
			}
			return nil
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		now := time.Now()
		fmt.Fprintln(tw, "ID\tNAME\tENABLED\tTEMPLATES\tSTATUS\tVALID\tCREATED")
		for _, p := range people {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t%s\t%s\n", p.ID, p.Name, yesNo(p.Enabled), p.Templates, p.Status(now), validity(p), p.CreatedAt.Local().Format(time.DateTime))
		}
		return tw.Flush()
	case "disable", "enable":
		if err := db.SetEnabled(ctx, id, action == "enable"); err != nil {
			return peopleErr(id, err)
		}
		fmt.Fprintf(stdout, "person %d %sd\n", id, action)
	case "delete":
		p, err := db.Person(ctx, id)
		if err != nil {
			return peopleErr(id, err)
		}
		if err := db.DeletePerson(ctx, id); err != nil {
			return peopleErr(id, err)
		}
		fmt.Fprintf(stdout, "person %d %q deleted with %d template(s)\n", id, p.Name, p.Templates)
	}
	return nil
}

// refuseSitePerson refuses to change a person that came from the site
// library: the next record would undo it, and other doors would not follow.
func refuseSitePerson(ctx context.Context, db *facedb.DB, id int64, action string) error {
	u, err := db.SiteUUID(ctx, id)
	if err != nil {
		return fmt.Errorf("people: %w", err)
	}
	if u != "" {
		return fmt.Errorf("people: person %d is site person %s: change it where the site is managed (facegate site %s -config FILE -key site.key %s)", id, u, action, u)
	}
	return nil
}

func peopleErr(id int64, err error) error {
	if errors.Is(err, facedb.ErrNotFound) {
		return fmt.Errorf("people: no person with id %d: %w", id, err)
	}
	return fmt.Errorf("people: %w", err)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func validity(p facedb.Person) string {
	if p.ValidFrom.IsZero() && p.ValidUntil.IsZero() {
		return "always"
	}
	f := func(t time.Time) string {
		if t.IsZero() {
			return "..."
		}
		return t.Local().Format(time.DateTime)
	}
	return f(p.ValidFrom) + " - " + f(p.ValidUntil)
}

func personJSON(p facedb.Person, now time.Time) map[string]any {
	m := map[string]any{"id": p.ID, "name": p.Name, "enabled": p.Enabled, "templates": p.Templates, "status": p.Status(now),
		"created": p.CreatedAt.UTC().Format(time.RFC3339)}
	if !p.ValidFrom.IsZero() {
		m["valid_from"] = p.ValidFrom.UTC().Format(time.RFC3339)
	}
	if !p.ValidUntil.IsZero() {
		m["valid_until"] = p.ValidUntil.UTC().Format(time.RFC3339)
	}
	return m
}
