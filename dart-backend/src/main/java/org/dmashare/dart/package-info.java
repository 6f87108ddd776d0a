/**
 * The {@code apple-dart} IOMMU backend: Apple's Device Address Resolution Table as the Linux
 * {@code apple-dart} driver and Asahi Linux drive it. {@link org.dmashare.dart.DartBackend}
 * creates {@link org.dmashare.dart.DartIommu}s of the variants in
 * {@link org.dmashare.dart.DartVariant} (t8020, t6000, t8110); their page tables use the
 * {@link org.dmashare.dart.Dart1Format} or {@link org.dmashare.dart.Dart2Format} entry layout over
 * the shared {@link org.dmashare.pgtable} engine; {@link org.dmashare.dart.DartDomain} adds
 * sub-page protection; {@link org.dmashare.dart.DartDump} writes and reads the register and table
 * dump; {@link org.dmashare.dart.DartFirmware} builds the state boot firmware leaves in a locked
 * DART.
 */
package org.dmashare.dart;
