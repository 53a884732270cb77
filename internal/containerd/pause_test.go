package containerd

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestPauseELFHeaders(t *testing.T) {
	bin := pauseELF()
	if !bytes.Equal(bin, pauseELF()) {
		t.Fatal("pauseELF is not deterministic")
	}
	if len(bin) > 512 {
		t.Errorf("pause is %d bytes; expected a few hundred", len(bin))
	}
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_X86_64 || f.Type != elf.ET_EXEC || f.OSABI != elf.ELFOSABI_NONE {
		t.Errorf("header = %+v", f.FileHeader)
	}
	if len(f.Progs) != 2 {
		t.Fatalf("%d program headers, want 2", len(f.Progs))
	}
	load, stack := f.Progs[0], f.Progs[1]
	if load.Type != elf.PT_LOAD || load.Flags != elf.PF_R|elf.PF_X || load.Off != 0 || load.Vaddr != pauseBase ||
		load.Filesz != uint64(len(bin)) || load.Memsz != load.Filesz {
		t.Errorf("load segment = %+v", load.ProgHeader)
	}
	if stack.Type != elf.PT_GNU_STACK || stack.Flags&elf.PF_X != 0 {
		t.Errorf("stack segment = %+v", stack.ProgHeader)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("not static: has %v", p.Type)
		}
	}
	if f.Entry != pauseBase+pauseCodeOff {
		t.Errorf("entry = %#x, want %#x", f.Entry, pauseBase+pauseCodeOff)
	}
	if f.Entry < load.Vaddr || f.Entry >= load.Vaddr+load.Memsz {
		t.Errorf("entry %#x outside the load segment", f.Entry)
	}

	// The two sigaction structs at the end: the handler of the first must
	// point at code (xor edi,edi; mov eax,231; syscall), the second is SIG_IGN.
	le := binary.LittleEndian
	act := bin[len(bin)-2*sigactionLen:]
	handler := le.Uint64(act[0:])
	if le.Uint64(act[8:]) != saRestorer || le.Uint64(act[16:]) != handler {
		t.Errorf("exit sigaction = % x", act[:sigactionLen])
	}
	off := handler - pauseBase
	if want := []byte{0x31, 0xff, 0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05}; off >= uint64(len(bin)) || !bytes.HasPrefix(bin[off:], want) {
		t.Errorf("handler at %#x does not hold exit_group(0)", handler)
	}
	if le.Uint64(act[sigactionLen:]) != sigIgn {
		t.Errorf("SIGCHLD sigaction = % x", act[sigactionLen:])
	}
}

// TestPauseRuns executes the program on this host: it must sleep, catch
// SIGTERM and SIGINT, ignore SIGCHLD, and exit 0 on SIGTERM or SIGINT.
func TestPauseRuns(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the pause program is linux/amd64; this is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	path := filepath.Join(t.TempDir(), "pause")
	if err := os.WriteFile(path, pauseELF(), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd := exec.Command(path)
			var err error
			for range 50 { // ETXTBSY: a concurrent fork may still hold the file open for writing
				if err = cmd.Start(); !errors.Is(err, syscall.ETXTBSY) {
					break
				}
				time.Sleep(20 * time.Millisecond)
				cmd = exec.Command(path)
			}
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()

			// Wait until it has installed its handlers and sleeps in pause(2).
			status := "/proc/" + strconv.Itoa(cmd.Process.Pid) + "/status"
			deadline := time.Now().Add(5 * time.Second)
			var fields map[string]string
			for {
				fields = procStatus(status)
				if fields["State"] != "" && strings.HasPrefix(fields["State"], "S") && sigBit(t, fields["SigCgt"], 15) {
					break
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					t.Fatalf("pause did not settle: %v", fields)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if !sigBit(t, fields["SigCgt"], 2) || !sigBit(t, fields["SigIgn"], 17) {
				t.Errorf("SigCgt=%s SigIgn=%s: want SIGINT caught and SIGCHLD ignored", fields["SigCgt"], fields["SigIgn"])
			}
			select {
			case err := <-done:
				t.Fatalf("pause exited on its own: %v", err)
			default:
			}
			_ = cmd.Process.Signal(sig)
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("after %v: %v, want exit status 0", sig, err)
				}
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				t.Fatalf("pause did not exit on %v", sig)
			}
		})
	}
}

func procStatus(path string) map[string]string {
	b, err := os.ReadFile(path)
	if err != nil {
		return map[string]string{}
	}
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

// sigBit reports whether signal sig is set in a /proc status mask.
func sigBit(t *testing.T, mask string, sig uint) bool {
	t.Helper()
	v, err := strconv.ParseUint(mask, 16, 64)
	if err != nil {
		return false
	}
	return v&(1<<(sig-1)) != 0
}
