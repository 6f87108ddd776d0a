package org.dmashare.examples.cli;

import java.util.concurrent.Callable;
import org.dmashare.examples.QuickDemo;
import picocli.CommandLine.Command;

/** {@code dmashare demo}: the quick-start demo. */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Share a buffer between IOMMUs of different granules, do DMA through both, print the layout.")
final class DemoCommand implements Callable<Integer> {

    @Override
    public Integer call() {
        return QuickDemo.run(System.out);
    }
}
