package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/facegate/facegate/config"
	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/site"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

func init() {
	register(command{
		name:    "site",
		summary: "manage the people of a site of many doors (init | enrol | disable | enable | delete | list | status)",
		run:     runSite,
	})
}

const siteUsage = `usage: facegate site init -dir DIR
       facegate site enrol   -config FILE -key site.key -name NAME [-valid-from T] [-valid-until T] [-no-thumbnail] IMAGE...
       facegate site disable -config FILE -key site.key UUID
       facegate site enable  -config FILE -key site.key UUID
       facegate site delete  -config FILE -key site.key UUID
       facegate site list    -config FILE
       facegate site status  -config FILE`

func runSite(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, siteUsage)
		return errUsage
	}
	action, args := args[0], args[1:]
	fs := newFlagSet("site "+action, stderr)
	cfgPath := configFlag(fs)
	dir := fs.String("dir", "", "init: folder for site.key (private, keep it where people are managed) and site.pub (for every door)")
	keyPath := fs.String("key", "", "the site's private key `FILE` (site.key), to sign records")
	name := fs.String("name", "", "enrol: display name")
	from := fs.String("valid-from", "", "enrol: first moment of access (RFC 3339 or YYYY-MM-DD)")
	until := fs.String("valid-until", "", "enrol: end of access (RFC 3339 or YYYY-MM-DD)")
	noThumb := fs.Bool("no-thumbnail", false, "enrol: do not put a face thumbnail in the record (doors then show none)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	usage := func() error { fmt.Fprintln(stderr, siteUsage); return errUsage }
	switch action {
	case "init":
		if *dir == "" || len(pos) > 0 {
			return usage()
		}
		priv, pub, err := site.InitKeys(*dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "private key: %s (keep it only where people are managed)\npublic key:  %s (copy to every door: [site] public_key_file)\n", priv, pub)
		return nil
	case "enrol":
		if *name == "" || len(pos) == 0 || *keyPath == "" {
			return usage()
		}
	case "disable", "enable", "delete":
		if len(pos) != 1 || *keyPath == "" {
			return usage()
		}
	case "list", "status":
		if len(pos) > 0 {
			return usage()
		}
	default:
		fmt.Fprintf(stderr, "facegate site: unknown action %q\n", action)
		return usage()
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	var key ed25519.PrivateKey
	if *keyPath != "" {
		if key, err = site.LoadPrivateKey(*keyPath); err != nil {
			return err
		}
	}
	var rec site.Record
	if action == "enrol" {
		// Compute the templates before connecting: a refused image
		// publishes nothing.
		if rec, err = siteRecordFromImages(cfg, *name, *from, *until, !*noThumb, pos, stderr); err != nil {
			return err
		}
	}
	admin, err := site.Dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer admin.Close()
	switch action {
	case "enrol":
		s, err := admin.Put(ctx, key, rec)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, s.UUID)
	case "disable", "enable":
		on := action == "enable"
		s, err := admin.Change(ctx, key, pos[0], func(r *site.Record) { r.Enabled = on })
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\t%s\t%s\tversion %d\n", s.UUID, s.Name, map[bool]string{true: "enabled", false: "disabled"}[on], s.Version)
	case "delete":
		s, err := admin.Delete(ctx, key, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\tdeleted\tversion %d\n", s.UUID, s.Version)
	case "list":
		return siteList(ctx, admin, stdout, stderr)
	case "status":
		return siteStatus(ctx, admin, stdout)
	}
	return nil
}

func parseWhen(key, s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			t = t.UTC()
			return &t, nil
		}
	}
	return nil, fmt.Errorf("site: -%s %q is neither RFC 3339 nor YYYY-MM-DD", key, s)
}

// siteRecordFromImages computes one template per usable image with the
// configured model. Any refused image fails the enrolment, naming the file:
// a site record is published to every door, so nothing half-right goes out.
func siteRecordFromImages(cfg config.Config, name, from, until string, thumb bool, files []string, stderr io.Writer) (site.Record, error) {
	name, err := enrol.CleanName(name)
	if err != nil {
		return site.Record{}, fmt.Errorf("site: -name: %w", err)
	}
	vf, err := parseWhen("valid-from", from)
	if err != nil {
		return site.Record{}, err
	}
	vu, err := parseWhen("valid-until", until)
	if err != nil {
		return site.Record{}, err
	}
	p, err := vision.Open(visionconfig.Options(cfg.Recognition, cfg.ModelsDir))
	if err != nil {
		return site.Record{}, err
	}
	defer p.Close()
	svc := enrolService(cfg, p, nil, nil)
	var ts []site.Template
	var thumbnail []byte
	var refused []string
	for _, f := range files {
		t, th, err := siteTemplate(svc, f)
		if err != nil {
			fmt.Fprintf(stderr, "facegate site: %s: refused: %v\n", f, err)
			refused = append(refused, f)
			continue
		}
		ts = append(ts, t)
		if thumb && thumbnail == nil {
			thumbnail = th
		}
	}
	if len(refused) > 0 {
		return site.Record{}, fmt.Errorf("site: %d of %d image(s) refused (%s); nothing published", len(refused), len(files), strings.Join(refused, ", "))
	}
	rec, err := site.NewPerson(name, ts, thumbnail)
	if err != nil {
		return site.Record{}, err
	}
	rec.ValidFrom, rec.ValidUntil = vf, vu
	return rec, nil
}

// siteTemplate checks one photo with the enrolment service's photo check.
func siteTemplate(svc *enrol.Service, file string) (site.Template, []byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return site.Template{}, nil, err
	}
	t, err := svc.Check(b)
	if err != nil {
		return site.Template{}, nil, err
	}
	return site.Template{Model: t.Model, Embedding: site.Embedding(t.Embedding), Quality: t.Quality}, t.Thumbnail, nil
}

func siteList(ctx context.Context, admin *site.Admin, stdout, stderr io.Writer) error {
	good, bad, err := admin.Records(ctx)
	if err != nil {
		return err
	}
	recs := make([]site.Signed, 0, len(good))
	for _, r := range good {
		recs = append(recs, r)
	}
	sort.Slice(recs, func(i, j int) bool {
		if recs[i].Deleted != recs[j].Deleted {
			return !recs[i].Deleted
		}
		return strings.ToLower(recs[i].Name) < strings.ToLower(recs[j].Name)
	})
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "UUID\tNAME\tSTATE\tTEMPLATES\tVERSION\tUPDATED")
	for _, r := range recs {
		state := "enabled"
		switch {
		case r.Deleted:
			state = "deleted"
		case !r.Enabled:
			state = "disabled"
		}
		models := map[string]int{}
		for _, t := range r.Templates {
			models[t.Model]++
		}
		var ms []string
		for m, n := range models {
			ms = append(ms, fmt.Sprintf("%d %s", n, m))
		}
		sort.Strings(ms)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s\n", r.UUID, r.Name, state, strings.Join(ms, ", "), r.Version, r.UpdatedAt.Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for id, err := range bad {
		fmt.Fprintf(stderr, "facegate site: %s: %v (doors refuse it)\n", id, err)
	}
	if len(bad) > 0 {
		return fmt.Errorf("site: %d retained record(s) on the broker do not verify with the site key", len(bad))
	}
	return nil
}

func siteStatus(ctx context.Context, admin *site.Admin, stdout io.Writer) error {
	good, _, err := admin.Records(ctx)
	if err != nil {
		return err
	}
	want := site.Digest(good)
	doors, err := admin.Doors(ctx)
	if err != nil {
		return err
	}
	sort.Slice(doors, func(i, j int) bool { return doors[i].Device < doors[j].Device })
	fmt.Fprintf(stdout, "site library on the broker: %d record(s), digest %s\n", len(good), want)
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "DOOR\tPEOPLE\tDELETED\tMAX VERSION\tDIGEST\tIN SYNC\tREFUSED\tMODEL\tREPORTED")
	for _, d := range doors {
		var refused []string
		for k, v := range d.Refused {
			refused = append(refused, fmt.Sprintf("%s=%d", k, v))
		}
		sort.Strings(refused)
		fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\n", d.Device, d.People, d.Deleted, d.MaxVersion, d.Digest,
			yesNo(d.Digest == want), strings.Join(refused, " "), d.Model, d.TS.Format(time.RFC3339))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if len(doors) == 0 {
		return errors.New("site: no door has reported a status yet")
	}
	return nil
}
