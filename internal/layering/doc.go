// Package layering holds a test that keeps the project's packages layered
// one way: cmd → rpc → node → loader, offload, transfer, blockstore, relay,
// browser → proto → inference. A package imports only packages of a lower
// layer, or of its own family (inference/llama may import inference/quant).
package layering
