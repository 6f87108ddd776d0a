/**
 * The shared radix page-table engine, split as Linux's io-pgtable is: a {@link
 * org.dmashare.pgtable.PteFormat} per hardware format encodes and decodes entries; {@link
 * org.dmashare.pgtable.IoPageTable} is the software side that builds tables in physical memory;
 * {@link org.dmashare.pgtable.PageTableWalker} is the hardware side that reads them back. Backends
 * supply a format and never touch entry bits themselves.
 */
package org.dmashare.pgtable;
