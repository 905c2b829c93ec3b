//go:build !unix

package rehearsal

// processCPU is unknown here: the generator's CPU reads 0.
func processCPU() float64 { return 0 }
