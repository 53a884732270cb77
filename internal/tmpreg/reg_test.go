package tmpreg

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/berth-dev/berth/internal/testutil/testregistry"
)

func TestServe(t *testing.T) {
	r := testregistry.Start(t, testregistry.Options{})
	ref, d := r.Push(t, "team/busybox:v1", testregistry.Image{Env: []string{"IMG_GREETING=hi"}})
	os.WriteFile("/tmp/reg.ref", []byte(ref+"\n"+d+"\n"), 0644)
	fmt.Println(ref, d)
	time.Sleep(20 * time.Minute)
}
