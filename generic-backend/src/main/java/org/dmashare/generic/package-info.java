/**
 * The {@code generic} backend: an ARM-LPAE-style stage-1 IOMMU as Linux's io-pgtable-arm drives
 * it, with variants {@code lpae-4k} (4K|2M|1G pages), {@code lpae-16k} (16K|32M) and
 * {@code lpae-64k} (64K|512M), configurable input and output address sizes (32..48 bits) and a
 * configurable number of streams.
 */
package org.dmashare.generic;
