// npm `libsodium` (raw Emscripten module, no bundled types): the default
// export instantiates the WASM module. sodium-aead.ts types the parts it uses.
declare module 'libsodium' {
  const factory: (moduleArg?: object) => Promise<unknown>;
  export default factory;
}
