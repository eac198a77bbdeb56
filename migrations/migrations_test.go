package migrations

import "testing"

func TestAllNumberedWithoutGaps(t *testing.T) {
	all, err := All()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 2 {
		t.Fatalf("got %d migrations", len(all))
	}
	for i, m := range all {
		if m.Version != i+1 || m.SQL == "" {
			t.Errorf("migration %d = %+v", i, m.Name)
		}
	}
}
