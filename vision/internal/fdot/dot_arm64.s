#include "textflag.h"

// func dotNEON(a, b *float32, n int, acc *[16]float32)
// n must be a multiple of 16. Stores four partial 4-lane sums to acc.
TEXT ·dotNEON(SB), NOSPLIT, $0-32
	MOVD a+0(FP), R0
	MOVD b+8(FP), R1
	MOVD n+16(FP), R2
	MOVD acc+24(FP), R3
	VEOR V8.B16, V8.B16, V8.B16
	VEOR V9.B16, V9.B16, V9.B16
	VEOR V10.B16, V10.B16, V10.B16
	VEOR V11.B16, V11.B16, V11.B16

loop:
	CMP  $16, R2
	BLT  done
	VLD1.P 64(R0), [V0.S4, V1.S4, V2.S4, V3.S4]
	VLD1.P 64(R1), [V4.S4, V5.S4, V6.S4, V7.S4]
	VFMLA V0.S4, V4.S4, V8.S4
	VFMLA V1.S4, V5.S4, V9.S4
	VFMLA V2.S4, V6.S4, V10.S4
	VFMLA V3.S4, V7.S4, V11.S4
	SUB  $16, R2, R2
	B    loop

done:
	VST1 [V8.S4, V9.S4, V10.S4, V11.S4], (R3)
	RET
