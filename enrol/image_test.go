package enrol

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"image"
	"image/color"
	"image/gif"
	"image/jpeg"
	"image/png"
	"strings"
	"testing"

	"github.com/facegate/facegate/internal/matleak"
	"github.com/facegate/facegate/vision"
)

// webpBomb is a complete VP8X header of a 16383x16383 WebP: a few dozen
// bytes that OpenCV would expand to 800 MB.
func webpBomb() []byte {
	var b bytes.Buffer
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(4+8+10))
	b.WriteString("WEBPVP8X")
	binary.Write(&b, binary.LittleEndian, uint32(10))
	b.Write([]byte{0, 0, 0, 0})
	w, h := 16383-1, 16383-1
	b.Write([]byte{byte(w), byte(w >> 8), byte(w >> 16), byte(h), byte(h >> 8), byte(h >> 16)})
	return b.Bytes()
}

// tiffBomb declares a 30000x30000 TIFF.
func tiffBomb() []byte {
	var b bytes.Buffer
	b.WriteString("II*\x00")
	binary.Write(&b, binary.LittleEndian, uint32(8))
	binary.Write(&b, binary.LittleEndian, uint16(2))
	for _, tag := range []uint16{256, 257} { // ImageWidth, ImageLength
		binary.Write(&b, binary.LittleEndian, tag)
		binary.Write(&b, binary.LittleEndian, uint16(4))
		binary.Write(&b, binary.LittleEndian, uint32(1))
		binary.Write(&b, binary.LittleEndian, uint32(30000))
	}
	binary.Write(&b, binary.LittleEndian, uint32(0))
	return b.Bytes()
}

// pngDeclaring is a small real PNG whose header is changed to declare w x h
// (with a correct CRC, so only the size is a lie).
func pngDeclaring(t *testing.T, w, h uint32) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := png.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8))); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	binary.BigEndian.PutUint32(p[16:], w)
	binary.BigEndian.PutUint32(p[20:], h)
	binary.BigEndian.PutUint32(p[29:], crc32.ChecksumIEEE(p[12:29]))
	return p
}

// jpegDeclaring is a small real JPEG whose frame header declares w x h.
func jpegDeclaring(t *testing.T, w, h uint16) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 8, 8)), nil); err != nil {
		t.Fatal(err)
	}
	p := b.Bytes()
	i := bytes.Index(p, []byte{0xFF, 0xC0})
	if i < 0 {
		t.Fatal("no SOF0 in the encoded JPEG")
	}
	binary.BigEndian.PutUint16(p[i+5:], h)
	binary.BigEndian.PutUint16(p[i+7:], w)
	return p
}

func gifImage(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	img := image.NewPaletted(image.Rect(0, 0, 4, 4), []color.Color{color.Black, color.White})
	if err := gif.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestCheckRefusesBombsFormatsAndTruncatedImages: only JPEG and PNG, their
// pixel size read from the header before anything decodes, and only images
// that decode completely.
func TestCheckRefusesBombsFormatsAndTruncatedImages(t *testing.T) {
	matleak.Check(t)
	s := New(openPipeline(t), openDB(t), Options{})
	face := photo(t, "df01", "img1.jpg").Data
	facePNG := func() []byte {
		img, _, err := image.Decode(bytes.NewReader(face))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		return b.Bytes()
	}()
	cases := []struct {
		name string
		data []byte
		want error
		says string
	}{
		{"16383x16383 WebP", webpBomb(), ErrFormat, "WebP"},
		{"30000x30000 TIFF", tiffBomb(), ErrFormat, "TIFF"},
		{"GIF", gifImage(t), ErrFormat, "GIF"},
		{"BMP", append([]byte("BM"), make([]byte, 60)...), ErrFormat, "BMP"},
		{"text", []byte("hello, not a picture"), ErrFormat, "not an image"},
		{"PNG declaring 6000x4500", pngDeclaring(t, 6000, 4500), ErrTooLarge, "6000x4500"},
		{"PNG declaring 30000x30000", pngDeclaring(t, 30000, 30000), ErrTooLarge, "30000x30000"},
		{"JPEG declaring 30000x30000", jpegDeclaring(t, 30000, 30000), ErrTooLarge, "30000x30000"},
		{"truncated JPEG", face[:len(face)*6/10], ErrIncomplete, "incomplete"},
		{"truncated PNG", facePNG[:len(facePNG)*6/10], ErrIncomplete, "incomplete"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Check(c.data)
			if !errors.Is(err, c.want) || !errors.Is(err, vision.ErrDecode) && c.want != ErrTooLarge {
				t.Fatalf("Check: %v, want %v", err, c.want)
			}
			if msg := Explain(err); !strings.Contains(msg, c.says) {
				t.Fatalf("message %q does not say %q", msg, c.says)
			}
			if c.want == ErrFormat && !strings.Contains(Explain(err), "only JPEG and PNG") {
				t.Fatalf("message %q does not say what is accepted", Explain(err))
			}
		})
	}
	// The complete photo, as JPEG and as PNG, is accepted.
	for name, data := range map[string][]byte{"jpeg": face, "png": facePNG} {
		if _, err := s.Check(data); err != nil {
			t.Errorf("complete %s refused: %v", name, err)
		}
	}
}

// TestNameRules: invalid UTF-8, bidirectional controls and invisible
// characters are refused; names that differ from another only by case,
// spacing or invisible characters are stored with a warning.
func TestNameRules(t *testing.T) {
	for _, bad := range []string{
		"Ada\xff", "\u202eecalevoL adA", "Ada\u2066 x\u2069", "A\u200bda", "Ada\u200d", "\ufeffAda", "Ada\u00ad", "Ada\u2060", "Ada\u200f", "Ada\nLovelace",
	} {
		if _, err := CleanName(bad); !errors.Is(err, ErrBadName) {
			t.Errorf("CleanName(%q) = %v, want ErrBadName", bad, err)
		} else if msg := Explain(err); msg == "" || strings.ContainsAny(msg, "\u202e\u200b") {
			t.Errorf("CleanName(%q): message %q", bad, msg)
		}
	}
	for _, good := range []string{"Zoë Ångström", "李小龍", "O'Brien-Smith", "José María", "Þórr"} {
		if n, err := CleanName(good); err != nil || n != good {
			t.Errorf("CleanName(%q) = %q, %v", good, n, err)
		}
	}
	ctx := context.Background()
	db := openDB(t)
	s := New(openPipeline(t), db, Options{})
	for _, n := range []string{"Alice Smith", "Ca\u200brol"} { // the second as an older facegate may have stored it
		if _, err := db.AddPerson(ctx, n, nil); err != nil {
			t.Fatal(err)
		}
	}
	for name, warn := range map[string]bool{
		"alice smith": true, "ALICE  SMITH": true, "Carol": true, "carol": true,
		"Alice Smith": false, "Bob": false, "Alice Smyth": false,
	} {
		w := s.NameWarning(ctx, name)
		if (w != "") != warn {
			t.Errorf("NameWarning(%q) = %q, want a warning: %v", name, w, warn)
		}
	}
}
