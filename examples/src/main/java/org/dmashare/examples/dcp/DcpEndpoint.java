package org.dmashare.examples.dcp;

/**
 * The two DCP endpoint callbacks this example is about, as the kernel side of the DCP's RPC
 * protocol sees them. Responses carry what the firmware is told; {@code ret} is 0 for success.
 */
public interface DcpEndpoint {

    /**
     * The firmware's {@code allocate_buffer} request.
     *
     * @param size bytes the firmware asks for
     */
    record AllocateBufferRequest(long size) {}

    /**
     * The answer to {@code allocate_buffer}.
     *
     * @param ret 0, or a negative errno (this example's extension: the original answered nothing)
     * @param memDescId the buffer id the firmware uses later; never 0 for a valid buffer
     * @param dva the buffer's address for the DCP
     * @param dvaSize the size reported to the firmware
     */
    record AllocateBufferResponse(int ret, int memDescId, long dva, long dvaSize) {}

    /**
     * The firmware's {@code map_piodma} request.
     *
     * @param buffer a {@code memDescId} from {@code allocate_buffer}
     */
    record MapPiodmaRequest(int buffer) {}

    /**
     * The answer to {@code map_piodma}.
     *
     * @param ret 0 on success; the original driver answered 1 for every failure, the migrated one a
     *     negative errno
     * @param dva the buffer's address for the PIODMA engine
     * @param vaddr a kernel virtual address; must be 0 (XNU leaks one here)
     */
    record MapPiodmaResponse(int ret, long dva, long vaddr) {}

    /**
     * Handles {@code allocate_buffer}.
     *
     * @param request the request
     * @return the response
     */
    AllocateBufferResponse allocateBuffer(AllocateBufferRequest request);

    /**
     * Handles {@code map_piodma}.
     *
     * @param request the request
     * @return the response
     */
    MapPiodmaResponse mapPiodma(MapPiodmaRequest request);
}
