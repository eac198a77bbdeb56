package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/schollz/progressbar/v3"

	"github.com/facegate/facegate/enrol"
	"github.com/facegate/facegate/facedb"
	"github.com/facegate/facegate/vision"
	"github.com/facegate/facegate/vision/visionconfig"
)

func init() {
	register(command{
		name:    "enrol",
		summary: "enrol a person from face images (-name NAME IMAGE... or -dir DIR)",
		run:     runEnrol,
	})
}

var enrolExts = map[string]bool{".jpg": true, ".jpeg": true, ".png": true, ".bmp": true, ".webp": true, ".tif": true, ".tiff": true}

func runEnrol(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("enrol", stderr)
	cfgPath := configFlag(fs)
	name := fs.String("name", "", "display name of the person to enrol from IMAGE...")
	dir := fs.String("dir", "", "folder with one sub-folder per person (folder name = display name); _* folders are skipped")
	noBar := fs.Bool("no-progress", false, "no progress bar with -dir")
	files, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if (*dir == "") == (*name == "") || (*dir != "" && len(files) > 0) || (*name != "" && len(files) == 0) {
		fmt.Fprintln(stderr, "usage: facegate enrol -config FILE -name NAME IMAGE...\n       facegate enrol -config FILE -dir DIR")
		return errUsage
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		return err
	}
	if cfg.Site.Name != "" {
		return fmt.Errorf("enrol: %s: this door belongs to site %q (site.name): enrol with 'facegate site enrol' where the site is managed", cfg.File, cfg.Site.Name)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	p, err := vision.Open(visionconfig.Options(cfg.Recognition, cfg.ModelsDir))
	if err != nil {
		return err
	}
	defer p.Close()
	e := &enroller{ctx: ctx, svc: enrolService(cfg, p, db, nil), stdout: stdout, stderr: stderr}

	if *name != "" {
		person, _, err := e.person(*name, files)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, person.ID)
		return nil
	}

	people, total, err := scanEnrolDir(*dir)
	if err != nil {
		return err
	}
	var bar *progressbar.ProgressBar
	if !*noBar {
		bar = progressbar.NewOptions(total, progressbar.OptionSetWriter(stderr), progressbar.OptionSetDescription("enrol"),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
	}
	e.bar = bar
	var failed []string
	for _, pp := range people {
		person, accepted, err := e.person(pp.name, pp.files)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failed = append(failed, pp.name)
			e.say("%s: %v", pp.name, err)
			continue
		}
		e.out("%d\t%s\t%d template(s)", person.ID, person.Name, accepted)
	}
	if bar != nil {
		_ = bar.Finish()
	}
	if len(failed) > 0 {
		return fmt.Errorf("enrol: %d of %d people not created: %s", len(failed), len(people), strings.Join(failed, ", "))
	}
	return nil
}

type enroller struct {
	ctx            context.Context
	svc            *enrol.Service
	bar            *progressbar.ProgressBar
	stdout, stderr io.Writer
}

func (e *enroller) say(format string, args ...any) {
	if e.bar != nil {
		_ = e.bar.Clear()
	}
	fmt.Fprintf(e.stderr, "facegate enrol: "+format+"\n", args...)
}

func (e *enroller) out(format string, args ...any) {
	if e.bar != nil {
		_ = e.bar.Clear()
	}
	fmt.Fprintf(e.stdout, format+"\n", args...)
}

// person enrols one person from image files; refusals and duplicate
// warnings go to stderr, each naming its file.
func (e *enroller) person(name string, files []string) (facedb.Person, int, error) {
	b := e.svc.NewBatch(0)
	for _, f := range files {
		if err := e.ctx.Err(); err != nil {
			return facedb.Person{}, 0, err
		}
		var v enrol.Verdict
		if data, err := os.ReadFile(f); err != nil {
			v = b.Refuse(f, err)
		} else {
			v = b.Add(e.ctx, enrol.Photo{Name: f, Data: data})
		}
		switch {
		case !v.OK():
			e.say("%s: refused: %v", v.Photo, v.Err)
		case v.Duplicate != nil:
			e.say("warning: %s %s", v.Photo, v.Duplicate)
		}
		if e.bar != nil {
			_ = e.bar.Add(1)
		}
	}
	warning := e.svc.NameWarning(e.ctx, name)
	p, err := b.CreatePerson(e.ctx, name)
	if err == nil && warning != "" {
		e.say("warning: %s", warning)
	}
	return p, b.Accepted(), err
}

type enrolDirPerson struct {
	name  string
	files []string
}

// scanEnrolDir lists DIR/NAME/*.{jpg,png,...}, skipping _* and hidden folders.
func scanEnrolDir(dir string) ([]enrolDirPerson, int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("enrol: %w", err)
	}
	var out []enrolDirPerson
	total := 0
	for _, ent := range ents {
		if !ent.IsDir() || strings.HasPrefix(ent.Name(), "_") || strings.HasPrefix(ent.Name(), ".") {
			continue
		}
		sub := filepath.Join(dir, ent.Name())
		fe, err := os.ReadDir(sub)
		if err != nil {
			return nil, 0, fmt.Errorf("enrol: %w", err)
		}
		var files []string
		for _, f := range fe {
			if !f.IsDir() && enrolExts[strings.ToLower(filepath.Ext(f.Name()))] {
				files = append(files, filepath.Join(sub, f.Name()))
			}
		}
		sort.Strings(files)
		if len(files) == 0 {
			continue
		}
		out = append(out, enrolDirPerson{name: ent.Name(), files: files})
		total += len(files)
	}
	if len(out) == 0 {
		return nil, 0, errors.New("enrol: " + dir + ": no person folders with images")
	}
	return out, total, nil
}
