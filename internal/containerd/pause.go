package containerd

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
)

// The pause program is the process that holds a pod sandbox's namespaces.
// It is a hand-assembled, static x86-64 Linux ELF executable of a few
// hundred bytes: no libc, no compiler, no download. It behaves like the
// upstream pause:
//
//   - SIGTERM and SIGINT run a handler that calls exit_group(0). As PID 1
//     of its PID namespace the kernel would otherwise drop both signals
//     (PID 1 gets no default actions), and a stop would only end with
//     SIGKILL after the runtime's timeout.
//   - SIGCHLD is set to SIG_IGN, so the kernel reaps every child that is
//     reparented to it (a shared PID namespace makes pause the pod's init)
//     without a wait loop.
//   - Then it calls pause(2) forever.
//
// Equivalent C:
//
//	static void bye(int sig) { _exit(0); }
//	int main(void) {
//		signal(SIGTERM, bye); signal(SIGINT, bye); signal(SIGCHLD, SIG_IGN);
//		for (;;) pause();
//	}
//
// File layout (offsets in the file = offsets from pauseBase in memory):
//
//	0x000  ELF64 header (64 bytes)
//	0x040  program header 0: PT_LOAD, R+X, the whole file at pauseBase
//	0x078  program header 1: PT_GNU_STACK, RW (non-executable stack)
//	0x0b0  code (entry point)
//	....   data, 8-byte aligned: two kernel struct sigaction (32 bytes each)

const (
	pauseBase    = 0x400000 // load address: fits in 32 bits, so `mov esi, imm32` can hold data addresses
	elfHdrSize   = 64       // sizeof(Elf64_Ehdr)
	progHdrSize  = 56       // sizeof(Elf64_Phdr)
	numProgHdrs  = 2
	pauseCodeOff = elfHdrSize + numProgHdrs*progHdrSize // 0xb0

	// x86-64 Linux syscall numbers.
	sysRtSigaction = 13
	sysPause       = 34
	sysExitGroup   = 231

	sigINT  = 2
	sigTERM = 15
	sigCHLD = 17

	saRestorer   = 0x04000000 // x86-64 requires SA_RESTORER for handlers (the kernel returns through sa_restorer)
	sigIgn       = 1          // SIG_IGN
	sigsetSize   = 8          // sizeof(kernel sigset_t), the 4th argument of rt_sigaction
	sigactionLen = 32         // kernel struct sigaction: handler, flags, restorer, mask (8 bytes each)
)

// asm collects machine code with one comment per instruction (the
// comments are documentation for the reader of this file).
type asm struct{ b []byte }

func (a *asm) emit(_ string, code ...byte) { a.b = append(a.b, code...) }

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// pauseCode assembles the program given the absolute addresses of its two
// sigaction structs. It returns the code and the offset of the signal
// handler inside it. Every instruction has a fixed size, so calling it
// with zero addresses gives the final layout.
func pauseCode(actExit, actIgn uint32) (code []byte, handlerOff int) {
	var a asm
	sigaction := func(sig byte, act uint32) {
		a.emit("mov eax, 13        ; rt_sigaction", append([]byte{0xb8}, le32(sysRtSigaction)...)...)
		a.emit("mov edi, sig       ; signal number", 0xbf, sig, 0x00, 0x00, 0x00)
		a.emit("mov esi, act       ; const struct sigaction *act (zero-extended into rsi)", append([]byte{0xbe}, le32(act)...)...)
		a.emit("xor edx, edx       ; struct sigaction *oldact = NULL", 0x31, 0xd2)
		a.emit("mov r10d, 8        ; sizeof(sigset_t)", 0x41, 0xba, sigsetSize, 0x00, 0x00, 0x00)
		a.emit("syscall", 0x0f, 0x05)
	}
	// _start:
	sigaction(sigTERM, actExit)
	sigaction(sigINT, actExit)
	sigaction(sigCHLD, actIgn)
	// loop:
	a.emit("mov eax, 34        ; pause", append([]byte{0xb8}, le32(sysPause)...)...)
	a.emit("syscall", 0x0f, 0x05)
	a.emit("jmp loop           ; rel8 -9: back over these three instructions (5+2+2 bytes)", 0xeb, 0xf7)
	// handler: (never returns, so it needs no stack frame and no sa_restorer code)
	handlerOff = len(a.b)
	a.emit("xor edi, edi       ; status 0", 0x31, 0xff)
	a.emit("mov eax, 231       ; exit_group", append([]byte{0xb8}, le32(sysExitGroup)...)...)
	a.emit("syscall", 0x0f, 0x05)
	return a.b, handlerOff
}

// pauseELF returns the pause executable (see the comment at the top of
// this file). The result is the same on every call.
func pauseELF() []byte {
	// Pass 1: sizes. Pass 2: with the real addresses.
	code, _ := pauseCode(0, 0)
	dataOff := pauseCodeOff + len(code)
	dataOff = (dataOff + 7) &^ 7
	actExitAddr := uint32(pauseBase + dataOff)
	actIgnAddr := actExitAddr + sigactionLen
	code, handlerOff := pauseCode(actExitAddr, actIgnAddr)
	handlerAddr := uint64(pauseBase + pauseCodeOff + handlerOff)
	fileSize := dataOff + 2*sigactionLen

	var buf bytes.Buffer
	le := binary.LittleEndian
	hdr := elf.Header64{
		Type:      uint16(elf.ET_EXEC),
		Machine:   uint16(elf.EM_X86_64),
		Version:   uint32(elf.EV_CURRENT),
		Entry:     pauseBase + pauseCodeOff,
		Phoff:     elfHdrSize,
		Shoff:     0, // no section headers: the kernel needs only program headers
		Ehsize:    elfHdrSize,
		Phentsize: progHdrSize,
		Phnum:     numProgHdrs,
		Shentsize: 64,
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	hdr.Ident[elf.EI_OSABI] = byte(elf.ELFOSABI_NONE)
	load := elf.Prog64{
		Type:   uint32(elf.PT_LOAD),
		Flags:  uint32(elf.PF_R | elf.PF_X),
		Off:    0, // map the whole file, headers included
		Vaddr:  pauseBase,
		Paddr:  pauseBase,
		Filesz: uint64(fileSize),
		Memsz:  uint64(fileSize),
		Align:  0x1000,
	}
	stack := elf.Prog64{
		Type:  uint32(elf.PT_GNU_STACK),
		Flags: uint32(elf.PF_R | elf.PF_W),
		Align: 16,
	}
	for _, v := range []any{&hdr, &load, &stack} {
		_ = binary.Write(&buf, le, v) // writes to a bytes.Buffer cannot fail
	}
	buf.Write(code)
	for buf.Len() < dataOff {
		buf.WriteByte(0xcc) // int3 padding up to the 8-byte aligned data
	}
	// struct sigaction for SIGTERM and SIGINT: call the handler.
	for _, v := range []uint64{handlerAddr, saRestorer, handlerAddr /* sa_restorer: never reached */, 0 /* sa_mask */} {
		buf.Write(le.AppendUint64(nil, v))
	}
	// struct sigaction for SIGCHLD: SIG_IGN (the kernel reaps children).
	for _, v := range []uint64{sigIgn, 0, 0, 0} {
		buf.Write(le.AppendUint64(nil, v))
	}
	return buf.Bytes()
}

// PauseProgram returns berth's static pause executable, for tools that
// package it in an image of their own (the conformance run's test images).
func PauseProgram() []byte { return pauseELF() }
