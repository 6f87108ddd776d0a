/**
 * The DCP/PIODMA driver example: Apple's display coprocessor (DCP) asks the kernel for buffers
 * ({@code allocate_buffer}) and then for the same buffers to be mapped for its PIODMA engine, which
 * sits on another stream of the display DART ({@code map_piodma}). The callbacks exist twice:
 * {@link org.dmashare.examples.dcp.LegacyDcpEndpoint} is the original driver's pattern on the
 * modelled Linux DMA API, {@link org.dmashare.examples.dcp.MigratedDcpEndpoint} is the same
 * endpoint on {@link org.dmashare.sharing.DmaSharing}. {@link org.dmashare.examples.dcp.DcpDemo}
 * runs one firmware-like request sequence through both on an M1-like
 * {@link org.dmashare.examples.dcp.DcpPlatform} and reports what each device can reach.
 */
package org.dmashare.examples.dcp;
