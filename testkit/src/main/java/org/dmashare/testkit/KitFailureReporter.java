package org.dmashare.testkit;

import org.junit.jupiter.api.extension.ExtensionContext;
import org.junit.jupiter.api.extension.TestExecutionExceptionHandler;
import org.opentest4j.TestAbortedException;

/**
 * Prefixes every failure of a kit check with the kit subclass and the unit under test, so that a
 * failure in a suite that runs the kit for several variants says which one broke; and turns an
 * unexpected exception from the backend into a failure naming the check (the rule) and what the
 * backend threw. Skips (assumption failures) pass through unchanged.
 */
final class KitFailureReporter implements TestExecutionExceptionHandler {

    @Override
    public void handleTestExecutionException(ExtensionContext context, Throwable thrown) throws Throwable {
        if (thrown instanceof TestAbortedException) {
            throw thrown;
        }
        String where = context.getTestInstances().flatMap(all -> all.findInstance(IommuBackendConformanceKit.class))
                .map(kit -> kit.getClass().getSimpleName() + " on " + kit.iommu())
                .orElse(context.getRequiredTestClass().getSimpleName());
        String check = context.getRequiredTestMethod().getName();
        if (thrown instanceof AssertionError) {
            AssertionError e = new AssertionError("[" + where + "] " + thrown.getMessage(), thrown.getCause());
            e.setStackTrace(thrown.getStackTrace());
            throw e;
        }
        throw new AssertionError("[" + where + "] check '" + check + "' broken: the backend threw " + thrown, thrown);
    }
}
