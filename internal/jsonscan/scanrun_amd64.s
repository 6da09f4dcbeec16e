//go:build !purego

#include "textflag.h"

// func scanRun(d, b []byte, j, n int) (j2, n2 int)
//
// b is read in blocks of 64 bytes. For each block, four SSE2 compares of
// 16 bytes (SSE2 is in every amd64 CPU) make one 64-bit mask of its '"',
// '\\' and control bytes (x&0xe0 == 0). Each flagged byte in turn (BSF)
// ends a run of plain bytes, copied with blind 16-byte stores; a '\\'
// starting a two-byte escape writes the byte it stands for (unescapeByte)
// and clears its two bits; anything else stops the scan there. The only
// chain from one escape to the next is the mask (BSF, shift, AND): a loop
// that reloads from each escape's end waits on that load instead.
//
// A block is started only with 80 bytes of b left, so every 16-byte load
// of a run that ends in the block stays inside b.
//
// Registers: SI b, DI d, AX j, BX n, R8 unescapeByte, R10 the last block
// start, R12 the block start, R11 the block's mask, CX a flagged byte's
// bit, DX its offset, R13 the run before it, R14 scratch.
TEXT ·scanRun(SB), NOSPLIT, $0-80
	MOVQ d_base+0(FP), DI
	MOVQ b_base+24(FP), SI
	MOVQ b_len+32(FP), R10
	MOVQ j+48(FP), AX
	MOVQ n+56(FP), BX
	LEAQ ·unescapeByte(SB), R8
	SUBQ $80, R10

	MOVQ $0x2222222222222222, DX
	MOVQ DX, X0
	PUNPCKLQDQ X0, X0 // '"' in every byte
	MOVQ $0x5c5c5c5c5c5c5c5c, DX
	MOVQ DX, X1
	PUNPCKLQDQ X1, X1 // '\\'
	MOVQ $0xe0e0e0e0e0e0e0e0, DX
	MOVQ DX, X2
	PUNPCKLQDQ X2, X2 // a control byte has none of these bits
	PXOR X3, X3

block:
	CMPQ AX, R10
	JGT done
	MOVQ AX, R12

	MOVOU 0(SI)(AX*1), X4
	MOVO X4, X5
	MOVO X4, X6
	PCMPEQB X0, X5
	PCMPEQB X1, X6
	PAND X2, X4
	PCMPEQB X3, X4
	POR X5, X4
	POR X6, X4
	PMOVMSKB X4, R11

	MOVOU 16(SI)(AX*1), X7
	MOVO X7, X8
	MOVO X7, X9
	PCMPEQB X0, X8
	PCMPEQB X1, X9
	PAND X2, X7
	PCMPEQB X3, X7
	POR X8, X7
	POR X9, X7
	PMOVMSKB X7, R14
	SHLQ $16, R14
	ORQ R14, R11

	MOVOU 32(SI)(AX*1), X10
	MOVO X10, X11
	MOVO X10, X12
	PCMPEQB X0, X11
	PCMPEQB X1, X12
	PAND X2, X10
	PCMPEQB X3, X10
	POR X11, X10
	POR X12, X10
	PMOVMSKB X10, R14
	SHLQ $32, R14
	ORQ R14, R11

	MOVOU 48(SI)(AX*1), X13
	MOVO X13, X14
	MOVO X13, X15
	PCMPEQB X0, X14
	PCMPEQB X1, X15
	PAND X2, X13
	PCMPEQB X3, X13
	POR X14, X13
	POR X15, X13
	PMOVMSKB X13, R14
	SHLQ $48, R14
	ORQ R14, R11

next:
	TESTQ R11, R11
	JZ blockend
	BSFQ R11, CX
	LEAQ (R12)(CX*1), DX // the flagged byte
	MOVQ DX, R13
	SUBQ AX, R13 // the run before it, 0 to 63 bytes
	MOVOU (SI)(AX*1), X4
	MOVOU X4, (DI)(BX*1)
	CMPQ R13, $16
	JA longrun

copied:
	ADDQ R13, BX
	MOVQ DX, AX
	MOVBLZX (SI)(AX*1), R14
	CMPL R14, $0x5c
	JNE done // '"' or a control byte
	MOVBLZX 1(SI)(AX*1), R14 // in b: AX < R12+64 <= len(b)-16
	MOVBLZX (R8)(R14*1), R14
	TESTL R14, R14
	JZ done // \u or an invalid escape
	MOVB R14, (DI)(BX*1)
	INCQ BX
	ADDQ $2, AX
	// Clear the escape's two bits (the second is past the block when
	// CX is 63: the next block starts after it).
	MOVQ $3, R14
	SHLQ CX, R14
	NOTQ R14
	ANDQ R14, R11
	JMP next

longrun:
	MOVQ $16, R14
longloop:
	LEAQ (AX)(R14*1), CX
	MOVOU (SI)(CX*1), X4
	LEAQ (BX)(R14*1), CX
	MOVOU X4, (DI)(CX*1)
	ADDQ $16, R14
	CMPQ R14, R13
	JB longloop
	SUBQ R12, DX
	MOVQ DX, CX // the bit again, for the clearing above
	ADDQ R12, DX
	JMP copied

blockend:
	// Copy what is left of the block, if anything (an escape may end
	// one byte past it).
	LEAQ 64(R12), DX
	MOVQ DX, R13
	SUBQ AX, R13
	JLE block
	MOVQ $0, R14
tailloop:
	LEAQ (AX)(R14*1), CX
	MOVOU (SI)(CX*1), X4
	LEAQ (BX)(R14*1), CX
	MOVOU X4, (DI)(CX*1)
	ADDQ $16, R14
	CMPQ R14, R13
	JB tailloop
	ADDQ R13, BX
	MOVQ DX, AX
	JMP block

done:
	MOVQ AX, j2+64(FP)
	MOVQ BX, n2+72(FP)
	RET

// func skipRun(b []byte, j int) int
//
// scanRun without the copy, for validation (scanString): it returns the
// offset of the first byte from j that is a '"', a control byte or the
// '\\' of anything but a two-byte escape, or where fewer than 64 bytes of
// b are left. Every load is a whole block inside b.
TEXT ·skipRun(SB), NOSPLIT, $0-40
	MOVQ b_base+0(FP), SI
	MOVQ b_len+8(FP), R10
	MOVQ j+24(FP), AX
	LEAQ ·unescapeByte(SB), R8
	SUBQ $64, R10

	MOVQ $0x2222222222222222, DX
	MOVQ DX, X0
	PUNPCKLQDQ X0, X0
	MOVQ $0x5c5c5c5c5c5c5c5c, DX
	MOVQ DX, X1
	PUNPCKLQDQ X1, X1
	MOVQ $0xe0e0e0e0e0e0e0e0, DX
	MOVQ DX, X2
	PUNPCKLQDQ X2, X2
	PXOR X3, X3

sblock:
	CMPQ AX, R10
	JGT sdone
	MOVQ AX, R12

	MOVOU 0(SI)(AX*1), X4
	MOVO X4, X5
	MOVO X4, X6
	PCMPEQB X0, X5
	PCMPEQB X1, X6
	PAND X2, X4
	PCMPEQB X3, X4
	POR X5, X4
	POR X6, X4
	PMOVMSKB X4, R11

	MOVOU 16(SI)(AX*1), X7
	MOVO X7, X8
	MOVO X7, X9
	PCMPEQB X0, X8
	PCMPEQB X1, X9
	PAND X2, X7
	PCMPEQB X3, X7
	POR X8, X7
	POR X9, X7
	PMOVMSKB X7, R14
	SHLQ $16, R14
	ORQ R14, R11

	MOVOU 32(SI)(AX*1), X10
	MOVO X10, X11
	MOVO X10, X12
	PCMPEQB X0, X11
	PCMPEQB X1, X12
	PAND X2, X10
	PCMPEQB X3, X10
	POR X11, X10
	POR X12, X10
	PMOVMSKB X10, R14
	SHLQ $32, R14
	ORQ R14, R11

	MOVOU 48(SI)(AX*1), X13
	MOVO X13, X14
	MOVO X13, X15
	PCMPEQB X0, X14
	PCMPEQB X1, X15
	PAND X2, X13
	PCMPEQB X3, X13
	POR X14, X13
	POR X15, X13
	PMOVMSKB X13, R14
	SHLQ $48, R14
	ORQ R14, R11

snext:
	TESTQ R11, R11
	JZ sblockend
	BSFQ R11, CX
	LEAQ (R12)(CX*1), AX // the flagged byte
	MOVBLZX (SI)(AX*1), R14
	CMPL R14, $0x5c
	JNE sdone // '"' or a control byte
	LEAQ 1(AX), R13
	CMPQ R13, b_len+8(FP)
	JGE sdone // '\\' is the last byte of b
	MOVBLZX 1(SI)(AX*1), R14
	MOVBLZX (R8)(R14*1), R14
	TESTL R14, R14
	JZ sdone // \u or an invalid escape
	ADDQ $2, AX
	MOVQ $3, R14
	SHLQ CX, R14
	NOTQ R14
	ANDQ R14, R11
	JMP snext

sblockend:
	// Past the block, or one byte further when its last byte began an
	// escape.
	LEAQ 64(R12), DX
	CMPQ AX, DX
	JGE sblock
	MOVQ DX, AX
	JMP sblock

sdone:
	MOVQ AX, ret+32(FP)
	RET
