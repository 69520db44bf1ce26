package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/carechain/carechain/supply"
)

// saleFlags are a ship's sale (supply/epcistxn.go): its business
// transactions and price. For a private product they travel sealed to the
// two parties; for an open one only the shipper's journal keeps them.
type saleFlags struct {
	bizTx            []string
	amount, currency string
	per              string
}

func (f *saleFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringArrayVar(&f.bizTx, "biz-tx", nil, "a business transaction of the sale, TYPE:ID (po:PO-123, inv:INV-9; CBV types); repeat")
	cmd.Flags().StringVar(&f.amount, "price", "", "the sale's price, a decimal (12.50); needs --currency and --biz-tx")
	cmd.Flags().StringVar(&f.currency, "currency", "", "ISO 4217 currency of --price (EUR)")
	cmd.Flags().StringVar(&f.per, "price-per", "unit", "--price is per unit or total")
}

// sale reads the flags: none given, no sale.
func (f *saleFlags) sale() ([]supply.BizTransaction, *supply.Price, error) {
	var biz []supply.BizTransaction
	for _, s := range f.bizTx {
		bt, err := supply.ParseBizTransaction(s)
		if err != nil {
			return nil, nil, fmt.Errorf("--biz-tx: %w", err)
		}
		biz = append(biz, bt)
	}
	if f.amount == "" {
		if f.currency != "" {
			return nil, nil, errors.New("--currency without --price")
		}
		return biz, nil, nil
	}
	if f.per != "unit" && f.per != "total" {
		return nil, nil, fmt.Errorf("--price-per %q: want unit or total", f.per)
	}
	p, err := supply.NewPrice(f.amount, f.currency, f.per == "unit")
	if err != nil {
		return nil, nil, fmt.Errorf("--price: %w", err)
	}
	if len(biz) == 0 {
		return nil, nil, errors.New("--price needs the sale's business transactions (--biz-tx po:PO-123)")
	}
	return biz, p, nil
}
