// Package onnx is the root of mhcc's ONNX layer: the packages below it read,
// write, print, compare and draw ONNX models without compiling or running
// them, and import nothing from the compiler or the runtime (see
// RATIONALE.md, "Package boundaries: the ONNX layer"). This package holds no
// code, only the test that keeps that import direction.
package onnx
